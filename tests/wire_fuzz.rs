//! Robustness of the wire layer against hostile input: random, mutated, truncated and oversized
//! command payloads, packet streams, handshake responses and COM_STMT_EXECUTE parameters. Every case
//! must end in `Ok` or `Err`, never in a panic; a seeded generator keeps the runs reproducible.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use repld::sql::Value;
use repld::wire::*;
use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An in-memory stream: reads come from `input` (then EOF), writes go to `output`. Always ready.
struct MemStream {
    input: Vec<u8>,
    pos: usize,
    /// Bytes returned per read call at most (exercises partial reads).
    step: usize,
    output: Vec<u8>,
}

impl MemStream {
    fn new(input: Vec<u8>, step: usize) -> Self {
        MemStream { input, pos: 0, step: step.max(1), output: Vec::new() }
    }
}

impl AsyncRead for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (self.input.len() - self.pos).min(buf.remaining()).min(self.step);
        let start = self.pos;
        buf.put_slice(&self.input[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Well-formed payloads of every command, to mutate.
fn command_templates() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = vec![
        b"\x01".to_vec(),
        b"\x02test".to_vec(),
        b"\x03SELECT 1".to_vec(),
        b"\x04t1\x00%".to_vec(),
        b"\x09".to_vec(),
        b"\x0c\x01\x00\x00\x00".to_vec(),
        b"\x0e".to_vec(),
        b"\x16SELECT ?, ?".to_vec(),
        b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x2a\x00\x00\x00\x00\x00\x00\x00"
            .to_vec(),
        b"\x18\x01\x00\x00\x00\x00\x00data".to_vec(),
        b"\x19\x01\x00\x00\x00".to_vec(),
        b"\x1a\x01\x00\x00\x00".to_vec(),
        b"\x1b\x00\x00".to_vec(),
        b"\x1f".to_vec(),
        b"\x15\x02\x00\x00\x00\x03abc\x00\x00\x3a\x81\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        b"\x12\x04\x00\x00\x00\x01\x00\x02\x00\x00\x00primary-bin.000001".to_vec(),
    ];
    let mut gtid = vec![0x1e, 0x04, 0x00, 0x02, 0, 0, 0, 3, 0, 0, 0];
    gtid.extend_from_slice(b"bin");
    gtid.extend_from_slice(&4u64.to_le_bytes());
    let mut data = 1u64.to_le_bytes().to_vec();
    data.extend_from_slice(&[9u8; 16]);
    data.extend_from_slice(&1u64.to_le_bytes());
    data.extend_from_slice(&1u64.to_le_bytes());
    data.extend_from_slice(&8u64.to_le_bytes());
    gtid.extend_from_slice(&(data.len() as u32).to_le_bytes());
    gtid.extend_from_slice(&data);
    t.push(gtid);
    t
}

/// A random mutation of `base`: byte flips, truncation, extension, length fields set to extremes.
fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    match rng.gen_range(0..6) {
        0 => {
            let cut = rng.gen_range(0..=v.len());
            v.truncate(cut);
        }
        1 => {
            for _ in 0..rng.gen_range(1..4) {
                if !v.is_empty() {
                    let i = rng.gen_range(0..v.len());
                    v[i] = rng.gen();
                }
            }
        }
        2 => {
            let extra = rng.gen_range(0..32);
            v.extend((0..extra).map(|_| rng.gen::<u8>()));
        }
        3 => {
            // Extreme little-endian integers anywhere (lengths, counts, ids).
            if v.len() > 4 {
                let i = rng.gen_range(1..v.len() - 3);
                v[i..i + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
            }
        }
        4 => {
            let len = rng.gen_range(0..48);
            v = (0..len).map(|_| rng.gen()).collect();
            if let Some(first) = v.first_mut() {
                *first = base[0];
            }
        }
        _ => {
            if !v.is_empty() {
                let i = rng.gen_range(0..v.len());
                v.insert(i, [0x00, 0xfb, 0xfc, 0xfd, 0xfe, 0xff][rng.gen_range(0..6)]);
            }
        }
    }
    v
}

#[test]
fn command_parse_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    let templates = command_templates();
    for t in &templates {
        assert!(Command::parse(t).is_ok(), "template {t:?} must parse");
    }
    let mut parsed = 0;
    for _ in 0..150_000 {
        let base = &templates[rng.gen_range(0..templates.len())];
        let input = mutate(&mut rng, base);
        if Command::parse(&input).is_ok() {
            parsed += 1;
        }
    }
    for code in 0..=255u8 {
        for len in 0..12 {
            let mut p = vec![code];
            p.extend((0..len).map(|_| rng.gen::<u8>()));
            let _ = Command::parse(&p);
        }
    }
    // Both outcomes must occur, or the generator is not exercising the parser.
    assert!(parsed > 1000 && parsed < 149_000, "parsed {parsed}");
}

/// Frames a payload as a client would, starting at `seq`.
fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    mysql_common::proto::codec::packet_to_chunks(seq, &mut &payload[..], &mut out);
    out.to_vec()
}

#[test]
fn packet_framing_never_panics() {
    let rt = runtime();
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    let mut outcomes = [0usize; 3];
    for case in 0..100_000 {
        // A stream of a few packets, some corrupted.
        let mut input = Vec::new();
        let mut payloads = Vec::new();
        for seq in 0..rng.gen_range(1..4u8) {
            let len =
                if rng.gen_bool(0.05) { rng.gen_range(0..5000) } else { rng.gen_range(0..40) };
            let p: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            input.extend(frame(seq, &p));
            payloads.push(p);
        }
        let clean = rng.gen_bool(0.3);
        if !clean {
            input = mutate(&mut rng, &input);
            if rng.gen_bool(0.2) {
                // An oversized header.
                input.splice(0..0, [0xff, 0xff, 0xff, 0x00]);
            }
        }
        let max = if case % 7 == 0 { 100 } else { 1 << 20 };
        let step = rng.gen_range(1..64);
        let mut conn = PacketConn::with_max_allowed_packet(MemStream::new(input, step), max);
        let mut got = Vec::new();
        let end = rt.block_on(async {
            loop {
                match conn.read_packet().await {
                    Ok(Some(p)) => got.push(p),
                    Ok(None) => return 0,
                    Err(_) => return 1,
                }
                if got.len() > 64 {
                    return 2;
                }
            }
        });
        outcomes[end] += 1;
        if clean && max > 5000 {
            assert_eq!(end, 0);
            assert_eq!(got, payloads);
        }
    }
    assert!(outcomes[0] > 1000 && outcomes[1] > 1000, "{outcomes:?}");
}

#[test]
fn handshake_responses_never_panic() {
    struct Any;
    impl Authenticator for Any {
        fn lookup(&self, _: &str) -> Option<Account> {
            Some(Account { password: "pw".into(), privilege: Privilege::All })
        }
    }
    // A real response (mysql_async-like): caps, max packet, collation, filler, user, token, db, plugin, attrs.
    let mut resp = Vec::new();
    resp.extend_from_slice(&(0x01ba_a20fu32 | 0x0010_0000).to_le_bytes());
    resp.extend_from_slice(&(16u32 << 20).to_le_bytes());
    resp.push(45);
    resp.extend_from_slice(&[0; 23]);
    resp.extend_from_slice(b"root\0");
    resp.push(20);
    resp.extend_from_slice(&[7; 20]);
    resp.extend_from_slice(b"db\0mysql_native_password\0");
    resp.extend_from_slice(b"\x0c\x04name\x07program");
    let rt = runtime();
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let mut denied = 0;
    for i in 0..30_000 {
        let payload = if i == 0 { resp.clone() } else { mutate(&mut rng, &resp) };
        // The client may also answer an auth switch with junk.
        let mut input = frame(1, &payload);
        input.extend(frame(3, &mutate(&mut rng, &[1, 2, 3, 4])));
        let mut conn = PacketConn::new(MemStream::new(input, 1 + i % 50));
        let params = HandshakeParams {
            conn_id: 1,
            server_version: SERVER_VERSION,
            auth: &Any,
            client_host: "h",
            auth_method: if i % 2 == 0 {
                AuthMethod::NativePassword
            } else {
                AuthMethod::CachingSha2Password
            },
        };
        if rt.block_on(server_handshake(&mut conn, params)).is_err() {
            denied += 1;
        }
    }
    assert!(denied > 20_000, "random tokens must not authenticate: {denied}");
}

#[test]
fn execute_params_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    let types = [
        0x00u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 0xf5, 0xf6, 0xfc, 0xfd, 0xfe,
        0x20,
    ];
    let mut decoded = 0;
    for _ in 0..100_000 {
        let n = rng.gen_range(0..6usize);
        let mut p = vec![0u8; n.div_ceil(8)];
        for b in &mut p {
            *b = rng.gen::<u8>() & rng.gen::<u8>();
        }
        p.push(u8::from(rng.gen_bool(0.9)));
        for _ in 0..n {
            p.push(types[rng.gen_range(0..types.len())]);
            p.push(if rng.gen_bool(0.3) { 0x80 } else { 0 });
        }
        let body_len = rng.gen_range(0..40);
        p.extend(
            (0..body_len).map(|_| {
                [0u8, 1, 4, 7, 8, 11, 12, 0xfc, 0xfe, 0xff, rng.gen()][rng.gen_range(0..11)]
            }),
        );
        let p = if rng.gen_bool(0.3) { mutate(&mut rng, &p) } else { p };
        let mut bound = if rng.gen_bool(0.5) { vec![0x08; n] } else { Vec::new() };
        let long = if rng.gen_bool(0.1) {
            BTreeMap::from([(0u16, b"x".to_vec())])
        } else {
            BTreeMap::new()
        };
        if let Ok(v) = decode_execute_params(&p, n, &mut bound, &long) {
            assert_eq!(v.len(), n);
            decoded += 1;
        }
    }
    assert!(decoded > 1000, "{decoded}");
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<f64>().prop_map(Value::Double),
        "[-+]?[0-9]{0,5}(\\.[0-9]{0,4})?".prop_map(Value::Decimal),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        "[ -~\\n\\r\\t\\\\'\"`?#-]{0,24}".prop_map(|s| Value::Bytes(s.into_bytes())),
        (1i32..9999, 1u32..13, 1u32..29).prop_map(|(y, m, d)| Value::Date(y, m, d)),
        (-10_000_000_000_000_000i64..10_000_000_000_000_000).prop_map(Value::DateTime),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Inlined literals never leave a placeholder behind or break out of their quotes.
    #[test]
    fn inlined_literals_are_closed(values in proptest::collection::vec(arb_value(), 1..6), nbe in any::<bool>()) {
        let sql = format!("SELECT {}", vec!["?"; values.len()].join(", "));
        let out = inline_params(&sql, &values, nbe).unwrap();
        prop_assert_eq!(placeholder_offsets(&out, nbe).len(), 0);
        let probe = format!("{out}, ?");
        prop_assert_eq!(placeholder_offsets(&probe, nbe).len(), 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every payload size survives write_packet -> read_packet, including the 16 MB chunk boundary.
    #[test]
    fn packets_roundtrip(len in prop_oneof![20 => 0usize..300, 1 => Just(MAX_PAYLOAD_LEN - 1), 1 => Just(MAX_PAYLOAD_LEN), 1 => Just(MAX_PAYLOAD_LEN + 1)], seq in any::<u8>()) {
        let rt = runtime();
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let bytes = rt.block_on(async {
            let mut w = PacketConn::new(MemStream::new(Vec::new(), 1));
            for _ in 0..seq { w.write_packet(b"").await.unwrap(); }
            w.write_packet(&payload).await.unwrap();
            w.flush().await.unwrap();
            w.get_ref().output.clone()
        });
        let got = rt.block_on(async {
            let mut r = PacketConn::with_max_allowed_packet(MemStream::new(bytes, 1 << 20), 64 << 20);
            for _ in 0..seq { r.read_packet().await.unwrap().unwrap(); }
            let p = r.read_packet().await.unwrap().unwrap();
            prop_assert_eq!(r.read_packet().await.unwrap(), None);
            Ok(p)
        })?;
        prop_assert_eq!(got, payload);
    }
}
