//! A throwaway MIT Kerberos KDC (Debian's krb5-kdc, installed by scripts/setup): a realm of its
//! own in a temporary folder, on a free port, TCP only, its principals made with kadmin.local
//! (pre-authentication required, as Active Directory requires it),
//! stopped and removed when dropped. Nothing runs before the test or after it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Kdc {
    /// `host:port`, as `--kdc` takes it.
    pub address: String,
    pub realm: String,
    child: Child,
    _folder: tempfile::TempDir,
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(name: &str) -> String {
    let path = format!("/usr/sbin/{name}");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: scripts/setup installs Debian's krb5-kdc and krb5-admin-server"
    );
    path
}

impl Kdc {
    /// A realm whose principals are `(name, password)`; the passwords' AES-256 keys are theirs.
    pub async fn start(realm: &str, principals: &[(&str, &str)]) -> Kdc {
        let folder = tempfile::tempdir().unwrap();
        let dir = folder.path().to_path_buf();
        let dir = dir.as_path();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        std::fs::write(
            dir.join("krb5.conf"),
            format!(
                "[libdefaults]\n  default_realm = {realm}\n[realms]\n  {realm} = {{\n    kdc = tcp/127.0.0.1:{port}\n  }}\n"
            ),
        )
        .unwrap();
        let d = dir.display();
        std::fs::write(
            dir.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n  {realm} = {{\n    database_name = {d}/principal\n    key_stash_file = {d}/stash\n    \
                 acl_file = {d}/kadm5.acl\n    supported_enctypes = aes256-cts-hmac-sha1-96:normal\n  }}\n\
                 [logging]\n  kdc = FILE:{d}/kdc.log\n"
            ),
        )
        .unwrap();
        let run = |program: &str, args: &[&str]| {
            let output = Command::new(tool(program))
                .args(args)
                .env("KRB5_CONFIG", dir.join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        run(
            "kdb5_util",
            &["create", "-s", "-r", realm, "-P", "stand-in-master"],
        );
        for (name, password) in principals {
            run(
                "kadmin.local",
                &[
                    "-r",
                    realm,
                    "-q",
                    &format!("addprinc +requires_preauth -pw {password} {name}"),
                ],
            );
        }
        let child = Command::new(tool("krb5kdc"))
            .args(["-n", "-r", realm])
            .env("KRB5_CONFIG", dir.join("krb5.conf"))
            .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let address = format!("127.0.0.1:{port}");
        let mut kdc = Kdc {
            address: address.clone(),
            realm: realm.to_owned(),
            child,
            _folder: folder,
        };
        // Listening once a connection is accepted; a KDC that exited says why in its log.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                return kdc;
            }
            if let Some(status) = kdc.child.try_wait().unwrap() {
                panic!(
                    "krb5kdc exited ({status}): {}",
                    std::fs::read_to_string(dir.join("kdc.log")).unwrap_or_default()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("krb5kdc did not listen on {address}");
    }

    /// The AES-256 key of `principal` (`name` or `service/host`), as kadmin derived it from its
    /// password with the realm's normal salt.
    pub fn key(&self, principal: &str, password: &str) -> Vec<u8> {
        use picky_krb::crypto::CipherSuite;
        let salt = format!("{}{}", self.realm, principal.replace('/', ""));
        CipherSuite::Aes256CtsHmacSha196
            .cipher()
            .generate_key_from_password(password.as_bytes(), salt.as_bytes())
            .unwrap()
    }
}
