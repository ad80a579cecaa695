/// Answers STUN Binding requests (RFC 8489 §6.3, RFC 5389, RFC 3489 clients) statelessly,
/// except for a fixed, pre-allocated per-source token-bucket table. `handle` never allocates.
///
/// Anti-reflection: no reply exceeds 2.5 times the request's size (or the stricter
/// `config.amplificationLimitPercent`). SOFTWARE is dropped first,
/// then the error reason phrase; if the minimal reply is still too large nothing is sent.
public struct BindingResponder {
    /// Hard upper bound on reply size as a percentage of the request size (2.5x).
    public static let maxAmplificationPercent = 250

    /// Current settings (rate changes go through `updateRateLimit`).
    public private(set) var config: BindingResponderConfig
    /// What happened so far.
    public private(set) var counters = StunCounters()
    /// The per-source limiter (exposed read-only for metrics and tests).
    public private(set) var rateLimiter: SourceRateLimiter

    /// Creates a responder; the rate table is allocated here, once.
    public init(config: BindingResponderConfig = BindingResponderConfig()) {
        self.config = config
        self.rateLimiter = SourceRateLimiter(capacity: config.rateTableCapacity,
                                             ratePerSecond: config.ratePerSecond, burst: config.burst)
    }

    /// Bytes a responder with this configuration reserves (its rate table).
    public static func reservedBytes(for config: BindingResponderConfig) -> Int {
        SourceRateLimiter.reservedBytes(capacity: config.rateTableCapacity)
    }

    /// Live reload of the rate limit (0 = unlimited); the table keeps its entries and size.
    public mutating func updateRateLimit(ratePerSecond: UInt32, burst: UInt32) {
        config.ratePerSecond = ratePerSecond
        config.burst = burst
        rateLimiter.update(ratePerSecond: ratePerSecond, burst: burst)
    }

    /// Handles one datagram from `source` received at monotonic time `now` (ns), writing any
    /// reply into `response`. Returns how many bytes to send back, or why nothing is sent.
    public mutating func handle(_ request: UnsafeRawBufferPointer, from source: TransportAddress, now: UInt64,
                                into response: UnsafeMutableRawBufferPointer) -> ResponderOutcome {
        let header: StunHeader
        do throws(StunParseError) {
            header = try StunHeader.peek(request)
        } catch {
            return drop(error == .truncatedHeader ? .truncated : .notStun)
        }
        guard header.messageSize == request.count else {
            return drop(header.messageSize > request.count ? .truncated : .notStun)
        }
        switch header.type.messageClass {
        case .indication: return drop(.indication)
        case .successResponse, .errorResponse: return drop(.response)
        case .request: break
        }
        counters.requests &+= 1
        guard header.type.method == .binding else { return drop(.unsupportedMethod) }
        counters.bindingRequests &+= 1

        let percent = Swift.max(0, Swift.min(config.amplificationLimitPercent, Self.maxAmplificationPercent))
        let limit = request.count * percent / 100
        let message: StunMessageView
        do throws(StunParseError) {
            message = try StunMessageView(request)
        } catch {
            guard rateLimiter.allow(source.ip, now: now) else { return drop(.rateLimited) }
            return replyError(400, header: header, unknown: nil, fingerprint: false, limit: limit, into: response)
        }
        let fingerprint = message.verifyFingerprint()
        if fingerprint == false { return drop(.badFingerprint) }
        guard rateLimiter.allow(source.ip, now: now) else { return drop(.rateLimited) }
        // RFC 3489 clients neither send nor expect FINGERPRINT.
        let echoFingerprint = fingerprint == true && header.hasMagicCookie

        let unknown = message.unknownComprehensionRequiredAttributes()
        if !unknown.isEmpty {
            return replyError(420, header: header, unknown: unknown, fingerprint: echoFingerprint, limit: limit,
                              into: response)
        }
        return replySuccess(header: header, source: source, fingerprint: echoFingerprint, limit: limit,
                            into: response)
    }

    private mutating func drop(_ reason: ResponderDropReason) -> ResponderOutcome {
        counters.drops[reason] &+= 1
        return .drop(reason)
    }

    /// Size of a SOFTWARE attribute for the configured value (0 when none).
    private var softwareSize: Int {
        guard let software = config.software else { return 0 }
        let length = utf8Length(software)
        return length > 0 ? 4 + stunPadded(length) : 0
    }

    private mutating func replySuccess(header: StunHeader, source: TransportAddress, fingerprint: Bool, limit: Int,
                                       into response: UnsafeMutableRawBufferPointer) -> ResponderOutcome {
        let minimal = StunHeader.size + 4 + AddressCodec.valueLength(source.ip) + (fingerprint ? 8 : 0)
        guard minimal <= limit else { return drop(.amplification) }
        let withSoftware = softwareSize > 0 && minimal + softwareSize <= limit
        do throws(StunBuildError) {
            var builder = try StunMessageBuilder(into: response, type: .bindingSuccess,
                                                 transactionID: header.transactionID, cookieField: header.cookieField)
            if header.hasMagicCookie {
                try builder.appendXorAddress(.xorMappedAddress, source)
            } else {
                try builder.appendAddress(.mappedAddress, source)
            }
            if withSoftware, let software = config.software {
                try builder.append(.software, utf8: software)
            }
            if fingerprint {
                try builder.appendFingerprint()
            }
            counters.successResponses &+= 1
            return .reply(length: builder.count)
        } catch {
            return drop(.bufferTooSmall)
        }
    }

    private mutating func replyError(_ code: Int, header: StunHeader, unknown: UnknownAttributeList?, fingerprint: Bool,
                                     limit: Int, into response: UnsafeMutableRawBufferPointer) -> ResponderOutcome {
        let reason: StaticString = code == 400 ? "Bad Request" : "Unknown Attribute"
        let unknownSize = unknown.map { 4 + stunPadded(2 * $0.count) } ?? 0
        let minimal = StunHeader.size + 8 + unknownSize + (fingerprint ? 8 : 0)
        guard minimal <= limit else { return drop(.amplification) }
        let reasonSize = stunPadded(utf8Length(reason))
        let withReason = minimal + reasonSize <= limit
        let withSoftware = withReason && softwareSize > 0 && minimal + reasonSize + softwareSize <= limit
        do throws(StunBuildError) {
            var builder = try StunMessageBuilder(into: response, type: .bindingError,
                                                 transactionID: header.transactionID, cookieField: header.cookieField)
            if withReason {
                try builder.appendErrorCode(code, reason: reason)
            } else {
                try builder.appendErrorCode(code, reason: "")
            }
            if let unknown {
                try builder.appendUnknownAttributes(unknown)
            }
            if withSoftware, let software = config.software {
                try builder.append(.software, utf8: software)
            }
            if fingerprint {
                try builder.appendFingerprint()
            }
            counters.errorResponses &+= 1
            if code == 400 { counters.errors400 &+= 1 } else { counters.errors420 &+= 1 }
            return .reply(length: builder.count)
        } catch {
            return drop(.bufferTooSmall)
        }
    }
}

/// UTF-8 length of a static string, whichever representation it has (`utf8CodeUnitCount`
/// traps for single-scalar static strings).
private func utf8Length(_ text: StaticString) -> Int {
    text.withUTF8Buffer { $0.count }
}
