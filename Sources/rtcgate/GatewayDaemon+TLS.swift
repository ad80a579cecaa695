import Gateway
import Glibc
import JSON
import Logging
import MediaPlane
import TLS

/// TURN over TLS as the operator sees it: the certificate in the log, `ctl status` and metrics.
extension GatewayDaemon {
    /// A certificate expiring within this is warned about (log, `ctl status`).
    static let certificateWarningSeconds: Int64 = 14 * 86_400

    /// Logs the certificate now in use, warning when it expires soon or does not name the host
    /// ICE_CONFIG's `turns:` URLs use (a browser would refuse it).
    func logCertificate(_ context: TLSServerContext, event: String) {
        let certificate = context.certificate
        let left = certificate.secondsLeft(now: Int64(time(nil)))
        logger.notice("\(event)", metadata: [
            "subject": "\(certificate.subject)", "issuer": "\(certificate.issuer)", "key": "\(certificate.keyType)",
            "expires_in_days": "\(left / 86_400)", "cert": "\(context.certificatePath)",
        ])
        if left <= 0 {
            logger.error("the TLS certificate has expired: browsers will refuse turns: until it is replaced (cert, then SIGHUP or ctl reload)")
        } else if left < Self.certificateWarningSeconds {
            logger.warning("the TLS certificate expires in \(left / 86_400) days: replace it (cert, then SIGHUP or ctl reload)")
        }
        if let host = turnsHost, !context.covers(host: host) {
            logger.warning("the TLS certificate does not name \(host), the host of ICE_CONFIG's turns: URLs: browsers will refuse it (set ice-host or use a certificate for it)")
        }
    }

    /// The host ICE_CONFIG's URLs name (ice-host, else the first listening address).
    private var turnsHost: String? {
        if let host = configuration.signaling.iceHost { return host.trimmingBrackets }
        return configuration.listeningIPs.first { $0 != "0.0.0.0" && $0 != "::" }
    }

    /// `ctl status`'s TLS part.
    func tlsStatus() -> JSONValue? {
        guard let context = tlsStore?.context else { return nil }
        let certificate = context.certificate
        let left = certificate.secondsLeft(now: Int64(time(nil)))
        var report: [(String, JSONValue)] = [
            ("ports", .array(configuration.tls.ports.map { .number(JSONNumber(Int($0))) })),
            ("subject", .string(certificate.subject)), ("issuer", .string(certificate.issuer)),
            ("keyType", .string(certificate.keyType)), ("notAfter", .number(JSONNumber(Int(certificate.notAfter)))),
            ("expiresInDays", .number(JSONNumber(Int(left / 86_400)))),
        ]
        if left <= 0 {
            report.append(("warning", .string("certificate expired")))
        } else if left < Self.certificateWarningSeconds {
            report.append(("warning", .string("certificate expires in \(left / 86_400) days")))
        }
        return .object(report)
    }

    /// Prometheus gauges of the certificate.
    func addTLSMetrics(to collector: inout MetricsCollector) {
        guard let context = tlsStore?.context else { return }
        let left = context.certificate.secondsLeft(now: Int64(time(nil)))
        collector.gauge("tls_certificate_expiry_seconds", "Seconds until the TURN-over-TLS certificate expires (0 once expired).",
                        UInt64(max(left, 0)))
        collector.gauge("tls_certificate_not_after_seconds", "The TURN-over-TLS certificate's notAfter, Unix seconds.",
                        UInt64(max(context.certificate.notAfter, 0)))
    }
}

private extension String {
    var trimmingBrackets: String { hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self }
}
