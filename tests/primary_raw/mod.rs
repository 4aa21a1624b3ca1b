//! A minimal blocking MySQL client over a raw TCP socket, for the tests that must send packets no
//! driver sends: unknown commands, truncated or oversized packets, COM_FIELD_LIST, COM_INIT_DB,
//! COM_STMT_RESET. Handshake as root with an empty password (mysql_native_password, or the empty
//! reply to an auth switch).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
/// CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH.
pub const BASE_CAPS: u32 = 1 | 8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000;
/// CLIENT_DEPRECATE_EOF.
pub const DEPRECATE_EOF: u32 = 1 << 24;

/// One raw connection.
pub struct Raw {
    pub stream: TcpStream,
    /// Sequence id of the last packet read.
    pub seq: u8,
    /// CLIENT_DEPRECATE_EOF was negotiated (no EOF after column definitions).
    pub deprecate_eof: bool,
}

/// A decoded ERR packet: code, SQLSTATE, message.
#[derive(Debug)]
pub struct Err {
    pub code: u16,
    pub state: String,
    pub msg: String,
}

/// Parses an ERR packet payload (0xFF, code, '#', SQLSTATE, message).
pub fn parse_err(p: &[u8]) -> Option<Err> {
    if p.first() != Some(&0xFF) || p.len() < 3 {
        return None;
    }
    let code = u16::from_le_bytes([p[1], p[2]]);
    let (state, msg) = if p.get(3) == Some(&b'#') && p.len() >= 9 {
        (String::from_utf8_lossy(&p[4..9]).into_owned(), &p[9..])
    } else {
        (String::new(), &p[3..])
    };
    Some(Err { code, state, msg: String::from_utf8_lossy(msg).into_owned() })
}

impl Raw {
    /// A TCP connection without handshake (the server's greeting is not read yet).
    pub fn tcp(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw { stream, seq: 0, deprecate_eof: false }
    }

    /// Connects and logs in as root (empty password), optionally with a default database.
    pub fn login(port: u16, db: Option<&str>, caps: u32) -> Raw {
        let mut r = Raw::tcp(port);
        r.deprecate_eof = caps & DEPRECATE_EOF != 0;
        let greeting = r.read().expect("greeting");
        assert_eq!(greeting[0], 10, "protocol 10 greeting, got {greeting:?}");
        let mut resp = Vec::new();
        let caps = if db.is_some() { caps | 8 } else { caps & !8 };
        resp.extend_from_slice(&caps.to_le_bytes());
        resp.extend_from_slice(&(16u32 << 20).to_le_bytes());
        resp.push(45);
        resp.extend_from_slice(&[0; 23]);
        resp.extend_from_slice(b"root\0");
        resp.push(0); // empty auth response
        if let Some(db) = db {
            resp.extend_from_slice(db.as_bytes());
            resp.push(0);
        }
        resp.extend_from_slice(b"mysql_native_password\0");
        r.write(1, &resp);
        loop {
            let p = r.read().expect("auth reply");
            match p[0] {
                0x00 => return r,
                0xFE => {
                    let seq = r.seq.wrapping_add(1);
                    r.write(seq, &[]);
                }
                0x01 => continue,
                _ => panic!("login refused: {:?}", parse_err(&p)),
            }
        }
    }

    /// Connects and logs in as `user` with `password`, computing the scramble for `plugin`
    /// (`mysql_native_password` or `caching_sha2_password`); the server's ERR on refusal.
    pub fn login_as(port: u16, user: &str, password: &str, plugin: &str) -> Result<Raw, Err> {
        use sha1::Digest as _;
        let mut r = Raw::tcp(port);
        r.deprecate_eof = true;
        let g = r.read().expect("greeting");
        assert_eq!(g[0], 10);
        let mut i = 1 + g[1..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
        let mut nonce = g[i..i + 8].to_vec();
        i += 8 + 1 + 2 + 1 + 2 + 2;
        let auth_len = g[i] as usize;
        i += 1 + 10;
        let part2 = auth_len.saturating_sub(8).max(13) - 1;
        nonce.extend_from_slice(&g[i..i + part2]);
        let token: Vec<u8> = if password.is_empty() {
            Vec::new()
        } else if plugin == "caching_sha2_password" {
            let h1 = sha2::Sha256::digest(password.as_bytes());
            let h2 = sha2::Sha256::digest(h1);
            let mut h = sha2::Sha256::new();
            h.update(h2);
            h.update(&nonce);
            let h3 = h.finalize();
            h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
        } else {
            let h1 = sha1::Sha1::digest(password.as_bytes());
            let h2 = sha1::Sha1::digest(h1);
            let mut h = sha1::Sha1::new();
            h.update(&nonce);
            h.update(h2);
            let h3 = h.finalize();
            h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
        };
        let caps = BASE_CAPS | DEPRECATE_EOF;
        let mut resp = Vec::new();
        resp.extend_from_slice(&(caps & !8).to_le_bytes());
        resp.extend_from_slice(&(16u32 << 20).to_le_bytes());
        resp.push(45);
        resp.extend_from_slice(&[0; 23]);
        resp.extend_from_slice(user.as_bytes());
        resp.push(0);
        resp.push(token.len() as u8);
        resp.extend_from_slice(&token);
        resp.extend_from_slice(plugin.as_bytes());
        resp.push(0);
        r.write(1, &resp);
        loop {
            let p = r.read().expect("auth reply");
            match p[0] {
                0x00 => return Ok(r),
                0x01 => continue, // caching_sha2 fast-auth result
                _ => return Err(parse_err(&p).expect("ERR")),
            }
        }
    }

    /// Writes one packet with the given sequence id.
    pub fn write(&mut self, seq: u8, payload: &[u8]) {
        let mut buf = Vec::with_capacity(payload.len() + 4);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
        buf.push(seq);
        buf.extend_from_slice(payload);
        self.stream.write_all(&buf).expect("write packet");
    }

    /// Sends a command (sequence 0).
    pub fn command(&mut self, payload: &[u8]) {
        self.write(0, payload);
    }

    /// Reads one packet payload; `None` when the server closed the connection (or reset it).
    pub fn read(&mut self) -> Option<Vec<u8>> {
        let mut head = [0u8; 4];
        self.stream.read_exact(&mut head).ok()?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        self.seq = head[3];
        let mut p = vec![0; len];
        self.stream.read_exact(&mut p).ok()?;
        Some(p)
    }

    /// True when the server has closed the connection (reads EOF or an error).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }

    /// Sends COM_PING and returns whether the answer was OK.
    pub fn ping(&mut self) -> bool {
        self.command(&[0x0E]);
        matches!(self.read(), Some(p) if p.first() == Some(&0))
    }

    /// Runs a COM_QUERY and returns the rows of a (text) result set as strings, or the ERR.
    /// Works with and without CLIENT_DEPRECATE_EOF.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Err> {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        self.command(&p);
        self.read_result()
    }

    /// Reads a result: OK (no rows), ERR, or a text result set.
    pub fn read_result(&mut self) -> Result<Vec<Vec<Option<String>>>, Err> {
        let first = self.read().expect("result");
        if let Some(e) = parse_err(&first) {
            return Err(e);
        }
        if first[0] == 0 {
            return Ok(Vec::new());
        }
        let ncols = first[0] as usize;
        for _ in 0..ncols {
            self.read().expect("column def");
        }
        if !self.deprecate_eof {
            let eof = self.read().expect("EOF after columns");
            assert_eq!(eof[0], 0xFE, "EOF after column definitions");
        }
        let mut rows = Vec::new();
        loop {
            let p = self.read().expect("row");
            if p[0] == 0xFE && p.len() < 0xFFFFFF {
                return Ok(rows);
            }
            if let Some(e) = parse_err(&p) {
                return Err(e);
            }
            rows.push(text_row(&p, ncols));
        }
    }
}

/// Decodes a text-protocol row of `n` length-encoded strings.
pub fn text_row(p: &[u8], n: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    for _ in 0..n {
        if p[i] == 0xFB {
            out.push(None);
            i += 1;
            continue;
        }
        let (len, hdr) = lenenc(&p[i..]);
        let s = &p[i + hdr..i + hdr + len as usize];
        out.push(Some(String::from_utf8_lossy(s).into_owned()));
        i += hdr + len as usize;
    }
    out
}

/// A length-encoded integer: (value, bytes used).
pub fn lenenc(p: &[u8]) -> (u64, usize) {
    match p[0] {
        0xFC => (u16::from_le_bytes([p[1], p[2]]) as u64, 3),
        0xFD => (u32::from_le_bytes([p[1], p[2], p[3], 0]) as u64, 4),
        0xFE => (u64::from_le_bytes(p[1..9].try_into().unwrap()), 9),
        n => (n as u64, 1),
    }
}
