//! Connection phase: HandshakeV10, the client's HandshakeResponse41, authentication.
//!
//! Flow ([`server_handshake`]):
//! 1. The server sends HandshakeV10 (seq 0) with a fresh 20-byte nonce, its capabilities and its
//!    default auth plugin ([`AuthMethod`], `mysql_native_password` unless configured otherwise).
//! 2. The client answers (seq 1) with HandshakeResponse41: its capabilities, user, auth token, database
//!    (CONNECT_WITH_DB), auth plugin and connection attributes. An SSLRequest (32 bytes with CLIENT_SSL)
//!    is refused with an ERR: the server does not offer TLS.
//! 3. If the client answered for a plugin the server does not speak, the server sends an
//!    AuthSwitchRequest to its default plugin (same nonce) and reads the new token.
//! 4. The token is checked against the account's plaintext password: `mysql_native_password`
//!    (SHA1 scramble) or `caching_sha2_password` fast path (SHA256 scramble, then AuthMoreData `0x03`;
//!    no RSA/full authentication, so a wrong token is simply refused).
//! 5. OK (or ERR 1045 `Access denied ...`, SQLSTATE 28000). The negotiated capabilities are the
//!    intersection of both sides; `CLIENT_DEPRECATE_EOF` among them changes every later result set.
//!
//! The server never offers CLIENT_SSL, CLIENT_COMPRESS, CLIENT_SESSION_TRACK or CLIENT_LOCAL_FILES.

use super::conn::PacketConn;
use super::results::{encode_err, encode_ok, OkInfo, SERVER_STATUS_AUTOCOMMIT};
use crate::error::{Error, Result};
use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthMoreData, AuthSwitchRequest, HandshakePacket, HandshakeResponse};
use mysql_common::proto::{MyDeserialize, MySerialize};
use rand::Rng;
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncWrite};

/// Capability: long passwords (MySQL servers set it; MariaDB servers clear it to mean "MariaDB").
pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
/// Capability: affected rows = found rows.
pub const CLIENT_FOUND_ROWS: u32 = 0x0000_0002;
/// Capability: all column flags.
pub const CLIENT_LONG_FLAG: u32 = 0x0000_0004;
/// Capability: a database name in the handshake response.
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
/// Capability: compression (never offered).
pub const CLIENT_COMPRESS: u32 = 0x0000_0020;
/// Capability: LOAD DATA LOCAL (never offered).
pub const CLIENT_LOCAL_FILES: u32 = 0x0000_0080;
/// Capability: ignore spaces before `(`.
pub const CLIENT_IGNORE_SPACE: u32 = 0x0000_0100;
/// Capability: protocol 4.1 (required).
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
/// Capability: interactive client (wait_timeout = interactive_timeout).
pub const CLIENT_INTERACTIVE: u32 = 0x0000_0400;
/// Capability: TLS (never offered; an SSLRequest is refused).
pub const CLIENT_SSL: u32 = 0x0000_0800;
/// Capability: transaction status flags.
pub const CLIENT_TRANSACTIONS: u32 = 0x0000_2000;
/// Capability: 4.1 authentication.
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
/// Capability: several statements in one COM_QUERY.
pub const CLIENT_MULTI_STATEMENTS: u32 = 0x0001_0000;
/// Capability: several result sets per COM_QUERY.
pub const CLIENT_MULTI_RESULTS: u32 = 0x0002_0000;
/// Capability: several result sets per COM_STMT_EXECUTE.
pub const CLIENT_PS_MULTI_RESULTS: u32 = 0x0004_0000;
/// Capability: pluggable authentication.
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
/// Capability: connection attributes.
pub const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
/// Capability: length-encoded auth response.
pub const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
/// Capability: can handle expired passwords.
pub const CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS: u32 = 0x0040_0000;
/// Capability: session state tracking in OK packets (never offered).
pub const CLIENT_SESSION_TRACK: u32 = 0x0080_0000;
/// Capability: no EOF packets; result sets end with an OK packet (header 0xfe).
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

/// The capabilities this server offers.
pub const SERVER_CAPABILITIES: u32 = CLIENT_FOUND_ROWS
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | CLIENT_INTERACTIVE
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
    | CLIENT_DEPRECATE_EOF;

/// utf8mb4_general_ci, the collation announced in the handshake.
pub const DEFAULT_COLLATION: u8 = 45;

/// The server version string repld announces (MariaDB-style, so clients treat it as MariaDB 10.11).
pub const SERVER_VERSION: &str = "5.5.5-10.11.19-MariaDB-repld";

const NATIVE: &str = "mysql_native_password";
const CACHING_SHA2: &str = "caching_sha2_password";

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Privilege {
    /// Everything (reads, writes, DDL, admin, replication).
    All,
    /// Replication only: COM_REGISTER_SLAVE / COM_BINLOG_DUMP and the queries a replica sends first.
    Replication,
    /// Reads only.
    Read,
}

/// An account known to the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Plaintext password (empty: no password).
    pub password: String,
    /// What the account may do.
    pub privilege: Privilege,
}

/// Where the server looks accounts up (the primary's config).
pub trait Authenticator: Send + Sync {
    /// The account named `user`, if it exists.
    fn lookup(&self, user: &str) -> Option<Account>;

    /// Checks the database a client names in its handshake (CONNECT_WITH_DB) after it authenticated;
    /// an error (e.g. 1049 `Unknown database 'x'`) is sent to the client instead of the final OK.
    /// The default accepts every name.
    fn check_database(&self, user: &str, db: &str) -> Result<()> {
        let _ = (user, db);
        Ok(())
    }
}

/// The auth plugin the server announces (and switches clients to when they ask for an unknown one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMethod {
    /// `mysql_native_password` (SHA1), what MariaDB announces; every client speaks it.
    #[default]
    NativePassword,
    /// `caching_sha2_password` fast path (SHA256 scramble; no RSA exchange).
    CachingSha2Password,
}

impl AuthMethod {
    /// The plugin name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::NativePassword => NATIVE,
            AuthMethod::CachingSha2Password => CACHING_SHA2,
        }
    }

    fn from_name(name: &[u8]) -> Option<AuthMethod> {
        match name {
            b"mysql_native_password" => Some(AuthMethod::NativePassword),
            b"caching_sha2_password" => Some(AuthMethod::CachingSha2Password),
            _ => None,
        }
    }
}

/// Inputs of [`server_handshake`].
pub struct HandshakeParams<'a> {
    /// Connection id announced to the client (CONNECTION_ID()).
    pub conn_id: u32,
    /// Server version string, e.g. [`SERVER_VERSION`].
    pub server_version: &'a str,
    /// Account lookup.
    pub auth: &'a dyn Authenticator,
    /// The client's host as shown in `Access denied for user 'u'@'host'` (e.g. `localhost`, an IP).
    pub client_host: &'a str,
    /// The plugin announced in the handshake.
    pub auth_method: AuthMethod,
}

/// What the handshake learned about the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// User name.
    pub user: String,
    /// Database given with CONNECT_WITH_DB (already accepted by [`Authenticator::check_database`]).
    pub db: Option<String>,
    /// Negotiated capabilities (client's & server's), `CLIENT_*` bits.
    pub capabilities: u32,
    /// The client's collation id (45 = utf8mb4_general_ci).
    pub collation: u8,
    /// Connection attributes (`_client_name`, `program_name`, ...).
    pub attrs: HashMap<String, String>,
    /// The account's privilege.
    pub privilege: Privilege,
    /// The auth plugin that authenticated the client.
    pub auth_method: AuthMethod,
    /// The largest packet the client says it accepts.
    pub max_packet_size: u32,
}

impl ClientInfo {
    /// True if result sets end with an OK packet instead of EOF packets.
    pub fn deprecate_eof(&self) -> bool {
        self.capabilities & CLIENT_DEPRECATE_EOF != 0
    }
}

/// A fresh 20-byte nonce of printable ASCII (no NUL, as MySQL's).
fn new_nonce() -> [u8; 20] {
    let mut rng = rand::thread_rng();
    let mut nonce = [0u8; 20];
    for b in &mut nonce {
        *b = rng.gen_range(0x21..0x7f);
    }
    nonce
}

/// The HandshakeV10 payload.
pub fn encode_handshake(
    conn_id: u32,
    server_version: &str,
    nonce: &[u8; 20],
    method: AuthMethod,
) -> Vec<u8> {
    let mut scramble_1 = [0u8; 8];
    scramble_1.copy_from_slice(&nonce[..8]);
    let mut scramble_2 = nonce[8..].to_vec();
    scramble_2.push(0);
    let packet = HandshakePacket::new(
        10,
        server_version.as_bytes(),
        conn_id,
        scramble_1,
        Some(scramble_2),
        mysql_common::constants::CapabilityFlags::from_bits_retain(SERVER_CAPABILITIES),
        DEFAULT_COLLATION,
        mysql_common::constants::StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(method.name().as_bytes()),
    );
    let mut out = Vec::with_capacity(96);
    packet.serialize(&mut out);
    out
}

/// Byte-wise equality without an early exit.
fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True if `token` is what a client that knows `password` computes for `nonce` under `method`.
pub fn verify_token(method: AuthMethod, nonce: &[u8; 20], password: &str, token: &[u8]) -> bool {
    if password.is_empty() {
        return token.is_empty() || token == [0];
    }
    let token = match token {
        [head @ .., 0] if head.len() == 20 || head.len() == 32 => head,
        t => t,
    };
    match method {
        AuthMethod::NativePassword => {
            scramble_native(nonce, password.as_bytes()).is_some_and(|t| tokens_equal(&t, token))
        }
        AuthMethod::CachingSha2Password => {
            scramble_sha256(nonce, password.as_bytes()).is_some_and(|t| tokens_equal(&t, token))
        }
    }
}

/// The ERR a client gets for a bad handshake packet (ER_HANDSHAKE_ERROR).
pub fn bad_handshake(detail: &str) -> Error {
    Error::sql(1043, "08S01", format!("Bad handshake{detail}"))
}

/// The ERR for a wrong user or password (ER_ACCESS_DENIED_ERROR).
pub fn access_denied(user: &str, host: &str, used_password: bool) -> Error {
    let yes = if used_password { "YES" } else { "NO" };
    Error::sql(
        1045,
        "28000",
        format!("Access denied for user '{user}'@'{host}' (using password: {yes})"),
    )
}

/// Sends `err` as an ERR packet and returns it.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin, T>(
    conn: &mut PacketConn<S>,
    err: Error,
) -> Result<T> {
    let (code, state, msg) = err.to_mysql();
    conn.write_packet(&encode_err(code, &state, &msg)).await?;
    conn.flush().await?;
    Err(err)
}

/// Reads the next packet of the handshake; a close here is an [`Error::Abort`].
async fn read_handshake_packet<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
) -> Result<Vec<u8>> {
    conn.read_packet()
        .await?
        .ok_or_else(|| Error::Abort("client closed the connection during the handshake".into()))
}

/// Runs the connection phase on a fresh connection: handshake, authentication, final OK. On success
/// the connection is ready for commands (call [`PacketConn::read_command`]); on failure an ERR packet
/// has been sent (when the client is still there) and the error is returned: close the connection.
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut PacketConn<S>,
    params: HandshakeParams<'_>,
) -> Result<ClientInfo> {
    let nonce = new_nonce();
    conn.reset_seq();
    conn.write_packet(&encode_handshake(
        params.conn_id,
        params.server_version,
        &nonce,
        params.auth_method,
    ))
    .await?;
    let payload = match read_handshake_packet(conn).await {
        Ok(p) => p,
        Err(e @ Error::Sql(_)) => return refuse(conn, e).await,
        Err(e) => return Err(e),
    };
    if payload.len() < 4 {
        return refuse(conn, bad_handshake("")).await;
    }
    let client_caps = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if client_caps & CLIENT_SSL != 0 && payload.len() == 32 {
        return refuse(conn, bad_handshake(": SSL is not supported by this server")).await;
    }
    if client_caps & CLIENT_PROTOCOL_41 == 0 {
        return refuse(conn, bad_handshake(": protocol 4.1 is required")).await;
    }
    let resp: HandshakeResponse<'_> =
        match HandshakeResponse::deserialize((), &mut ParseBuf(&payload)) {
            Ok(r) => r,
            Err(_) => return refuse(conn, bad_handshake("")).await,
        };
    let user = String::from_utf8_lossy(resp.user()).into_owned();
    let client_method = if client_caps & CLIENT_PLUGIN_AUTH != 0 {
        resp.auth_plugin().and_then(|p| AuthMethod::from_name(p.as_bytes()))
    } else if client_caps & CLIENT_SECURE_CONNECTION != 0 {
        Some(AuthMethod::NativePassword)
    } else {
        None
    };
    let (method, token) = match client_method {
        Some(m) => (m, resp.scramble_buf().to_vec()),
        None if client_caps & CLIENT_PLUGIN_AUTH != 0 => {
            let mut data = nonce.to_vec();
            data.push(0);
            let switch = AuthSwitchRequest::new(params.auth_method.name().as_bytes(), data);
            let mut out = Vec::new();
            switch.serialize(&mut out);
            conn.write_packet(&out).await?;
            (params.auth_method, read_handshake_packet(conn).await?)
        }
        None => {
            return refuse(
                conn,
                access_denied(&user, params.client_host, !resp.scramble_buf().is_empty()),
            )
            .await
        }
    };
    let account = params.auth.lookup(&user);
    let ok = account.as_ref().is_some_and(|a| verify_token(method, &nonce, &a.password, &token));
    let account = match account {
        Some(a) if ok => a,
        _ => {
            let used = !(token.is_empty() || token == [0]);
            return refuse(conn, access_denied(&user, params.client_host, used)).await;
        }
    };
    if method == AuthMethod::CachingSha2Password && !account.password.is_empty() {
        let mut out = Vec::new();
        AuthMoreData::new(&[0x03][..]).serialize(&mut out);
        conn.write_packet(&out).await?;
    }
    let db =
        resp.db_name().filter(|d| !d.is_empty()).map(|d| String::from_utf8_lossy(d).into_owned());
    if let Some(db) = &db {
        if let Err(e) = params.auth.check_database(&user, db) {
            return refuse(conn, e).await;
        }
    }
    let ok = OkInfo { status_flags: SERVER_STATUS_AUTOCOMMIT, ..Default::default() };
    conn.write_packet(&encode_ok(0, &ok)).await?;
    conn.flush().await?;
    Ok(ClientInfo {
        user,
        db,
        capabilities: client_caps & SERVER_CAPABILITIES,
        collation: resp.collation(),
        attrs: resp.connect_attributes().unwrap_or_default(),
        privilege: account.privilege,
        auth_method: method,
        max_packet_size: u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_packet_parses_back() {
        let nonce = *b"abcdefghijklmnopqrst";
        let bytes = encode_handshake(7, SERVER_VERSION, &nonce, AuthMethod::NativePassword);
        let hp = HandshakePacket::deserialize((), &mut ParseBuf(&bytes)).unwrap();
        assert_eq!(hp.connection_id(), 7);
        assert_eq!(hp.server_version_str(), SERVER_VERSION);
        assert_eq!(hp.nonce(), nonce.to_vec());
        assert_eq!(hp.auth_plugin_name_str().as_deref(), Some(NATIVE));
        assert_eq!(hp.capabilities().bits(), SERVER_CAPABILITIES);
        assert_eq!(hp.default_collation(), 45);
    }

    #[test]
    fn tokens() {
        let nonce = *b"abcdefghijklmnopqrst";
        let native = scramble_native(&nonce, b"pw").unwrap();
        assert!(verify_token(AuthMethod::NativePassword, &nonce, "pw", &native));
        assert!(!verify_token(AuthMethod::NativePassword, &nonce, "pw2", &native));
        assert!(!verify_token(AuthMethod::NativePassword, &nonce, "pw", b""));
        assert!(verify_token(AuthMethod::NativePassword, &nonce, "", b""));
        assert!(!verify_token(AuthMethod::NativePassword, &nonce, "", &native));
        let sha = scramble_sha256(&nonce, b"pw").unwrap();
        assert!(verify_token(AuthMethod::CachingSha2Password, &nonce, "pw", &sha));
        assert!(!verify_token(AuthMethod::CachingSha2Password, &nonce, "pw", &native));
    }

    #[test]
    fn access_denied_wording() {
        let e = access_denied("root", "localhost", true);
        assert_eq!(
            e.to_mysql(),
            (
                1045,
                "28000".into(),
                "Access denied for user 'root'@'localhost' (using password: YES)".into()
            )
        );
    }
}
