//! TLS termination in the node, as an option: with `tls_cert` and `tls_key` (PEM files) the
//! HTTP listener speaks HTTPS and WSS itself, through rustls on ring (no OpenSSL, no C build),
//! TLS 1.2 and 1.3 with rustls' safe defaults. Without them the node speaks plain HTTP and TLS
//! belongs to the load balancer in front (docs/operations.md weighs the two).
//!
//! Certificates are read once at startup; renewing one means restarting the node (a rolling
//! restart in a cluster).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// The rustls configuration for the node's listener, or `None` when TLS is not configured.
/// A missing, unreadable or mismatched file stops the node with a message that names it.
pub fn server_config(config: &Config) -> io::Result<Option<rustls::ServerConfig>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    load(cert, key).map(Some)
}

fn load(cert: &Path, key: &Path) -> io::Result<rustls::ServerConfig> {
    fn bad(path: &Path, what: &'static str) -> impl Fn(rustls::pki_types::pem::Error) -> io::Error {
        let path = path.display().to_string();
        move |e| io::Error::other(format!("tls: cannot read {what} from {path}: {e}"))
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(bad(cert, "certificates"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad(cert, "certificates"))?;
    if chain.is_empty() {
        return Err(io::Error::other(format!(
            "tls: no certificate in {}",
            cert.display()
        )));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(bad(key, "a private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            io::Error::other(format!(
                "tls: the certificate and key do not go together: {e}"
            ))
        })
}
