//! The control plane's certificates, made fresh for each start: a real CA, the API server's
//! serving certificate, client certificates for the admin (`system:masters`) and the controller
//! manager, and the service-account signing key. ECDSA P-256 throughout (the API server accepts
//! it for service-account tokens, and it is what rcgen makes with the one crypto provider).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertifiedKey { <redacted> }")
    }
}

/// Everything the control plane's processes and clients authenticate with.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: CertifiedKey,
    pub api_server: CertifiedKey,
    pub admin: CertifiedKey,
    pub controller_manager: CertifiedKey,
    /// Signs service-account tokens (TokenRequest)…
    pub service_account_key_pem: String,
    /// …and verifies them.
    pub service_account_public_key_pem: String,
}

/// The names and addresses the API server answers as, in and out of a cluster.
const API_SERVER_NAMES: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The first address of `--service-cluster-ip-range`: the `kubernetes` Service.
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";
const KUBERNETES_SERVICE_IP: [u8; 4] = [10, 0, 0, 1];

impl Pki {
    pub fn generate() -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = name("mendix-operator-control-plane-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = CertifiedKey {
            cert_pem: ca_cert.pem(),
            key_pem: ca_key.serialize_pem(),
        };
        let issuer = Issuer::new(ca_params, ca_key);

        let mut serving = CertificateParams::new(
            API_SERVER_NAMES
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
        )?;
        serving.subject_alt_names.extend([
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::IpAddress(KUBERNETES_SERVICE_IP.into()),
        ]);
        serving.distinguished_name = name("kube-apiserver", None);
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let api_server = signed(serving, &issuer)?;

        let admin = client_certificate("admin", "system:masters", &issuer)?;
        // The garbage collector deletes objects of every kind: as in a test cluster, the
        // controller manager is a member of system:masters.
        let controller_manager =
            client_certificate("system:kube-controller-manager", "system:masters", &issuer)?;
        let service_account = KeyPair::generate()?;
        Ok(Pki {
            ca,
            api_server,
            admin,
            controller_manager,
            service_account_key_pem: service_account.serialize_pem(),
            service_account_public_key_pem: service_account.public_key_pem(),
        })
    }
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        dn.push(DnType::OrganizationName, organization);
    }
    dn
}

fn client_certificate(
    user: &str,
    group: &str,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<CertifiedKey, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(user, Some(group));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    signed(params, issuer)
}

fn signed(
    mut params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<CertifiedKey, rcgen::Error> {
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
