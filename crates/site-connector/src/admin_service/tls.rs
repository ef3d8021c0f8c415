//! How the connector trusts the AdminService's certificate: the platform's store, a CA file, or a
//! pinned SHA-256 fingerprint of the site's own certificate (the usual case for an SMS Provider's
//! self-signed or internal certificate). Verification is never switched off.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub enum Trust {
    /// The platform's certificate store.
    Platform,
    /// These CA certificates (PEM), besides the platform's.
    Ca(Vec<u8>),
    /// Only a certificate with this SHA-256 fingerprint.
    Pin([u8; 32]),
}

/// A fingerprint as `openssl x509 -fingerprint -sha256` or Windows prints it: 64 hex digits,
/// with or without colons or spaces.
pub fn parse_pin(text: &str) -> anyhow::Result<[u8; 32]> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    let valid = hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
    if !valid {
        anyhow::bail!(
            "'{text}' is not a SHA-256 fingerprint: give 64 hexadecimal digits (colons allowed)"
        );
    }
    let mut pin = [0u8; 32];
    for (index, byte) in pin.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).expect("hex checked");
    }
    Ok(pin)
}

/// The SHA-256 fingerprint of a certificate (DER), as [`parse_pin`] reads it back.
pub fn fingerprint(certificate_der: &[u8]) -> String {
    Sha256::digest(certificate_der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The TLS configuration `trust` asks for.
pub fn client_config(trust: &Trust) -> anyhow::Result<rustls::ClientConfig> {
    if let Trust::Pin(pin) = trust {
        return Ok(pinned(*pin));
    }
    let mut roots = rustls::RootCertStore::empty();
    // The platform's store; certificates in it that rustls cannot read are passed over, as
    // browsers do.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Trust::Ca(pem) = trust {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate =
                certificate.map_err(|error| anyhow::anyhow!("the CA file is not PEM: {error}"))?;
            roots
                .add(certificate)
                .map_err(|error| anyhow::anyhow!("a certificate in the CA file: {error}"))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("the CA file holds no certificate");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A TLS configuration that accepts exactly the certificate with `pin` (its handshake signature
/// still checked).
pub fn pinned(pin: [u8; 32]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinVerifier { pin, provider }))
        .with_no_client_auth()
}

#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the AdminService's certificate (SHA-256 {}) is not the pinned one",
                fingerprint(end_entity.as_ref())
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_back_as_printed() {
        let printed = fingerprint(b"a certificate");
        assert_eq!(
            parse_pin(&printed).unwrap().as_slice(),
            Sha256::digest(b"a certificate").as_slice()
        );
        assert!(parse_pin("AB:CD").is_err());
        assert!(parse_pin(&"G".repeat(64)).is_err());
    }
}
