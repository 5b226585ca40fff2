import Crypto

/// AWS Signature Version 4 (docs: "Signature Version 4 signing process"): the canonical request, the
/// string to sign, the signing key (HMAC-SHA256 chain over date, region, service, "aws4_request") and
/// the Authorization header. Checked against AWS's published test-suite vectors (S3EngineTests).
///
/// The signing key depends only on the secret, the UTC day, the region and the service, so a signer
/// keeps the last day's key and derives a new one when the day changes.
public struct SigV4: Sendable {
    public struct Credentials: Sendable {
        public var accessKey: String
        public var secretKey: String
        /// AWS_SESSION_TOKEN: sent (and signed) as x-amz-security-token.
        public var sessionToken: String?
        public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
            self.accessKey = accessKey
            self.secretKey = secretKey
            self.sessionToken = sessionToken
        }
    }

    /// What signing one request produced (the first two for tests and error messages).
    public struct Signed: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    public let credentials: Credentials
    public let region: String
    public let service: String
    private var keyDay: String = ""
    private var key = SymmetricKey(size: .bits256)

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// SHA-256 of "" (the payload hash of a request without a body).
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lower-case hex of SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String { hex(SHA256.hash(data: bytes)) }
    public static func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Array(text.utf8))) }

    /// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - _ . ~ stay; every other byte is %XX
    /// (upper-case); `/` stays when `keepSlash` (an S3 object path).
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query string of (name, value) pairs, given unencoded: each encoded, sorted by
    /// name then value, joined with `&`.
    public static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        pairs.map { (uriEncode($0.0, keepSlash: false), uriEncode($0.1, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// A header value as SigV4 signs it: leading and trailing spaces trimmed, runs of spaces made one.
    static func trimmed(_ value: String) -> String {
        var out: [UInt8] = []
        var space = false
        for b in value.utf8 {
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
                space = !out.isEmpty
                continue
            }
            if space { out.append(UInt8(ascii: " ")) }
            space = false
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical request and the signed-headers list. `canonicalURI` and `canonicalQuery` are
    /// already encoded; `headers` are every header to sign (names in any case; a name given twice
    /// has its values joined with `,` in order).
    public static func canonicalRequest(method: String, canonicalURI: String, canonicalQuery: String,
                                        headers: [(String, String)], payloadHash: String) -> (text: String, signedHeaders: String) {
        var merged: [(String, String)] = []
        for (name, value) in headers {
            let n = name.lowercased(), v = trimmed(value)
            if let i = merged.firstIndex(where: { $0.0 == n }) { merged[i].1 += "," + v } else { merged.append((n, v)) }
        }
        merged.sort { $0.0 < $1.0 }
        let signed = merged.map(\.0).joined(separator: ";")
        var text = method + "\n" + canonicalURI + "\n" + canonicalQuery + "\n"
        for (n, v) in merged { text += n + ":" + v + "\n" }
        text += "\n" + signed + "\n" + payloadHash
        return (text, signed)
    }

    /// `yyyyMMdd/region/service/aws4_request`.
    public func scope(day: String) -> String { "\(day)/\(region)/\(service)/aws4_request" }

    /// The signing key of `day` (yyyyMMdd), kept until the day changes.
    mutating func signingKey(day: String) -> SymmetricKey {
        if day != keyDay {
            func mac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
                SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
            }
            var k = SymmetricKey(data: Array(("AWS4" + credentials.secretKey).utf8))
            for part in [day, region, service, "aws4_request"] { k = mac(k, part) }
            key = k
            keyDay = day
        }
        return key
    }

    /// Signs one request. `amzDate` is `yyyyMMddTHHmmssZ`, the value of its x-amz-date header (which
    /// `headers` must hold, as it must hold host).
    public mutating func sign(method: String, canonicalURI: String, canonicalQuery: String, headers: [(String, String)],
                              payloadHash: String, amzDate: String) -> Signed {
        let (request, signedHeaders) = Self.canonicalRequest(method: method, canonicalURI: canonicalURI, canonicalQuery: canonicalQuery,
                                                             headers: headers, payloadHash: payloadHash)
        let day = String(amzDate.prefix(8))
        let toSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope(day: day) + "\n" + Self.sha256Hex(request)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: signingKey(day: day)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope(day: day)), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(canonicalRequest: request, stringToSign: toSign, signature: signature, authorization: authorization)
    }
}
