import HeraldCore
import NIOSSL

/// Mutual TLS: a hook's client certificate and key, as the TLS configuration of its requests.
enum ClientCertificates {
    /// Why the PEM certificate chain and key cannot be used, or nil when they can.
    static func problem(certificate: String, key: String) -> String? {
        do {
            guard !(try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8))).isEmpty else { return "the certificate holds no certificate" }
        } catch {
            return "the certificate is not a PEM certificate"
        }
        do {
            _ = try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem)
        } catch {
            return "the private key is not an unencrypted PEM private key"
        }
        return nil
    }

    /// The TLS configuration presenting the hook's certificate, verifying the receiver unless the
    /// hook turned verification off.
    static func configuration(_ credentials: HookCredentials, verify: Bool) throws -> TLSConfiguration? {
        guard let certificate = credentials.clientCertificate, let key = credentials.clientKey else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
        if !verify { tls.certificateVerification = .none }
        return tls
    }
}

extension HookCredentials {
    /// Why a client certificate and key cannot be used (for validating input), or nil.
    public static func clientCertificateProblem(certificate: String, key: String) -> String? {
        ClientCertificates.problem(certificate: certificate, key: key)
    }
}
