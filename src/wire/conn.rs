//! Packet framing: [`PacketConn`] turns a byte stream into MySQL packets and back.
//!
//! A MySQL packet on the wire is `len u24 LE | seq u8 | payload[len]`. A payload of 16 MB - 1 bytes
//! (0xffffff) or more is split into chunks of exactly 0xffffff bytes followed by a shorter chunk (possibly
//! empty); every chunk carries the next sequence id. Chunk decoding and encoding are mysql_common's
//! ([`ChunkDecoder`], [`packet_to_chunks`]); this file adds the async I/O, the sequence-id bookkeeping and
//! the error mapping.
//!
//! Invariants:
//! * Sequence ids: every packet read must carry the id the connection expects, and every packet written
//!   takes the next one; both directions share one counter, as in the protocol (a command is seq 0, the
//!   reply starts at 1). [`PacketConn::reset_seq`] (or [`PacketConn::read_command`]) starts a new command.
//! * [`PacketConn::read_packet`] returns `Ok(None)` only for a clean close before the first byte of a
//!   packet; a close in the middle of a packet is an error.
//! * Incoming payloads larger than `max_allowed_packet` are refused as soon as their header arrives, with
//!   MySQL's error 1153, without buffering them.
//! * Writes are buffered; anything buffered is flushed before the connection waits for input, so a
//!   request/response loop can never deadlock on an unflushed reply. Streams that only write (binlog
//!   dump) call [`PacketConn::flush`] themselves.
//! * `read_packet` is cancel-safe: partial input stays buffered in the connection, so it may be raced in
//!   `select!` against a shutdown or an idle timeout.
//! * After any error from `read_packet` the framing is lost: the caller may send one ERR packet (for
//!   [`Error::Sql`]) and must then close the connection.

use crate::error::{Error, Result};
use bytes::{Buf, BytesMut};
use mysql_common::proto::codec::{
    error::PacketCodecError, packet_to_chunks, ChunkDecoder, ChunkInfo,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest payload of one wire chunk (16 MB - 1); longer payloads are split.
pub const MAX_PAYLOAD_LEN: usize = 0xff_ffff;

/// Default limit for incoming packets: 16 MiB, MariaDB 10.11's default `max_allowed_packet`.
pub const DEFAULT_MAX_ALLOWED_PACKET: usize = 16 * 1024 * 1024;

/// Buffered output above this size is written out without waiting for [`PacketConn::flush`].
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// Read-buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// The error a client gets for a packet over `max_allowed_packet` (ER_NET_PACKET_TOO_LARGE).
pub fn packet_too_large() -> Error {
    Error::sql(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes")
}

/// The error for a packet whose sequence id is not the expected one (ER_NET_PACKETS_OUT_OF_ORDER).
pub fn packets_out_of_order() -> Error {
    Error::sql(1156, "08S01", "Got packets out of order")
}

/// A MySQL packet connection over any async byte stream (a `TcpStream`, or an in-memory stream in tests).
#[derive(Debug)]
pub struct PacketConn<S> {
    stream: S,
    /// The next sequence id to expect (reading) or to use (writing).
    seq: u8,
    decoder: ChunkDecoder,
    /// Bytes read from the stream and not yet decoded.
    rbuf: BytesMut,
    /// Completed chunks of the packet being read (kept here for cancel safety).
    pending: Vec<u8>,
    /// Encoded packets not yet written to the stream.
    wbuf: BytesMut,
    max_allowed_packet: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketConn<S> {
    /// Wraps a stream, with the default `max_allowed_packet`.
    pub fn new(stream: S) -> Self {
        Self::with_max_allowed_packet(stream, DEFAULT_MAX_ALLOWED_PACKET)
    }

    /// Wraps a stream, refusing incoming packets larger than `max_allowed_packet` bytes.
    pub fn with_max_allowed_packet(stream: S, max_allowed_packet: usize) -> Self {
        PacketConn {
            stream,
            seq: 0,
            decoder: ChunkDecoder::default(),
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            pending: Vec::new(),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            max_allowed_packet,
        }
    }

    /// The limit on incoming packet size.
    pub fn max_allowed_packet(&self) -> usize {
        self.max_allowed_packet
    }

    /// Changes the limit on incoming packet size (e.g. after `SET GLOBAL max_allowed_packet`).
    pub fn set_max_allowed_packet(&mut self, max_allowed_packet: usize) {
        self.max_allowed_packet = max_allowed_packet;
    }

    /// The sequence id the next packet (read or written) carries.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Starts a new command: the next packet read must have sequence id 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably (writing to it directly breaks the framing).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Reads the next command packet: resets the sequence id, then [`PacketConn::read_packet`].
    pub async fn read_command(&mut self) -> Result<Option<Vec<u8>>> {
        self.flush().await?;
        self.reset_seq();
        self.read_packet().await
    }

    /// Reads one whole packet payload (chunks of a > 16 MB payload reassembled). Flushes buffered output
    /// first. `Ok(None)`: the peer closed the connection cleanly between packets.
    pub async fn read_packet(&mut self) -> Result<Option<Vec<u8>>> {
        self.flush().await?;
        loop {
            if let Some(payload) = self.decode_buffered()? {
                return Ok(Some(payload));
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                if self.rbuf.is_empty() && self.pending.is_empty() {
                    return Ok(None);
                }
                return Err(Error::Io("connection closed in the middle of a packet".into()));
            }
        }
    }

    /// Decodes chunks from the read buffer; returns a payload once its last chunk is in.
    fn decode_buffered(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            let info = match self.decoder.decode(
                &mut self.rbuf,
                &mut self.pending,
                self.max_allowed_packet,
            ) {
                Ok(Some(info)) => info,
                Ok(None) => return Ok(None),
                Err(PacketCodecError::PacketTooLarge) => {
                    // The offending header is still in the buffer: answer with the id after it.
                    self.seq = self.rbuf.get(3).copied().unwrap_or(self.seq).wrapping_add(1);
                    return Err(packet_too_large());
                }
                Err(e) => return Err(Error::InvalidData(format!("packet framing: {e}"))),
            };
            let (seq, last) = match info {
                ChunkInfo::Middle(seq) => (seq, false),
                ChunkInfo::Last(seq) => (seq, true),
            };
            if seq != self.seq {
                self.seq = seq.wrapping_add(1);
                return Err(packets_out_of_order());
            }
            self.seq = self.seq.wrapping_add(1);
            if last {
                return Ok(Some(std::mem::take(&mut self.pending)));
            }
        }
    }

    /// Queues one packet (split into chunks if 16 MB or larger) with the next sequence ids. The bytes are
    /// sent by [`PacketConn::flush`], by the next read, or when enough output has accumulated.
    pub async fn write_packet(&mut self, payload: &[u8]) -> Result<()> {
        self.write_packet_buf(payload).await
    }

    /// [`PacketConn::write_packet`] for a payload made of several buffers (e.g. a prefix and a body
    /// chained with [`Buf::chain`]), without copying them together first.
    pub async fn write_packet_buf(&mut self, mut payload: impl Buf) -> Result<()> {
        self.seq = packet_to_chunks(self.seq, &mut payload, &mut self.wbuf);
        if self.wbuf.len() >= WRITE_HIGH_WATER {
            self.stream.write_all_buf(&mut self.wbuf).await?;
        }
        Ok(())
    }

    /// Writes all queued packets to the stream and flushes it.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all_buf(&mut self.wbuf).await?;
        }
        self.stream.flush().await?;
        Ok(())
    }

    /// Flushes and shuts the write side down (after an ERR that ends the connection, or COM_QUIT).
    pub async fn shutdown(&mut self) -> Result<()> {
        self.flush().await?;
        self.stream.shutdown().await?;
        Ok(())
    }

    /// Ends a connection after a fatal ERR (e.g. 1153) so that the client can read it: flushes, shuts
    /// the write side down, then reads and discards input until the peer closes or `linger` passes.
    /// (Closing with unread input makes the kernel reset the connection, and the client may lose the
    /// ERR.)
    pub async fn close_gracefully(&mut self, linger: std::time::Duration) -> Result<()> {
        self.shutdown().await?;
        let drain = async {
            let mut buf = vec![0u8; READ_CHUNK];
            while self.stream.read(&mut buf).await? > 0 {}
            Ok::<(), Error>(())
        };
        match tokio::time::timeout(linger, drain).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `payload` as one packet with the given first sequence id, as a client would.
    fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        packet_to_chunks(seq, &mut &payload[..], &mut out);
        out.to_vec()
    }

    async fn read_all(input: Vec<u8>, max: usize) -> (Vec<Result<Option<Vec<u8>>>>, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let writer = tokio::spawn(async move {
            client.write_all(&input).await.unwrap();
            client.shutdown().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut conn = PacketConn::with_max_allowed_packet(server, max);
        let mut results = Vec::new();
        loop {
            let r = conn.read_packet().await;
            let stop = !matches!(r, Ok(Some(_)));
            results.push(r);
            if stop {
                break;
            }
        }
        conn.shutdown().await.unwrap();
        drop(conn);
        (results, writer.await.unwrap())
    }

    #[tokio::test]
    async fn reads_packets_in_sequence_then_clean_close() {
        let mut input = frame(0, b"\x03SELECT 1");
        input.extend(frame(1, b""));
        let (results, _) = read_all(input, 1024).await;
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().as_deref(), Some(&b"\x03SELECT 1"[..]));
        assert_eq!(results[1].as_ref().unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(results[2], Ok(None));
    }

    #[tokio::test]
    async fn close_mid_packet_is_an_error() {
        let mut input = frame(0, b"hello");
        input.truncate(6);
        let (results, _) = read_all(input, 1024).await;
        assert!(matches!(results[0], Err(Error::Io(_))), "{results:?}");
    }

    #[tokio::test]
    async fn wrong_sequence_id_is_1156() {
        let (results, _) = read_all(frame(5, b"x"), 1024).await;
        assert_eq!(results[0].as_ref().unwrap_err().to_mysql().0, 1156);
    }

    #[tokio::test]
    async fn too_large_is_1153() {
        let (results, _) = read_all(frame(0, &[7u8; 2000]), 1000).await;
        assert_eq!(results[0].as_ref().unwrap_err().to_mysql().0, 1153);
    }

    #[tokio::test]
    async fn splits_and_reassembles_16mb_payloads() {
        for len in [MAX_PAYLOAD_LEN - 1, MAX_PAYLOAD_LEN, MAX_PAYLOAD_LEN + 1, 2 * MAX_PAYLOAD_LEN]
        {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (mut a, b) = tokio::io::duplex(1 << 16);
            let p2 = payload.clone();
            let w = tokio::spawn(async move {
                let mut conn = PacketConn::new(b);
                conn.write_packet(&p2).await.unwrap();
                conn.write_packet(b"next").await.unwrap();
                conn.flush().await.unwrap();
                conn.seq()
            });
            let mut raw = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            let chunks = len / MAX_PAYLOAD_LEN + 1;
            let want = len + 4 * chunks + 8;
            while raw.len() < want {
                let n = a.read(&mut buf).await.unwrap();
                raw.extend_from_slice(&buf[..n]);
            }
            let seq_after = w.await.unwrap();
            assert_eq!(seq_after as usize, chunks + 1);
            let (results, _) = read_all(raw, 64 << 20).await;
            assert_eq!(results[0].as_ref().unwrap().as_ref().unwrap(), &payload);
            assert_eq!(results[1].as_ref().unwrap().as_deref(), Some(&b"next"[..]));
        }
    }
}
