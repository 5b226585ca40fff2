import Testing
@testable import S3Engine

/// AWS's Signature Version 4 test suite (aws-sig-v4-test-suite: credentials AKIDEXAMPLE, 2015-08-30
/// 12:36:00 UTC, us-east-1, service "service") and the GET-object example of the S3 API reference
/// ("Authenticating Requests: Using the Authorization Header", examplebucket, 2013-05-24): the
/// expected canonical requests, strings to sign and signatures are the published ones.
@Suite struct SigV4Tests {
    static let suite = SigV4.Credentials(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let date = "20150830T123600Z"
    static let host = ("Host", "example.amazonaws.com")

    func sign(_ method: String, query: [(String, String)] = [], extra: [(String, String)] = []) -> SigV4.Signed {
        var s = SigV4(credentials: Self.suite, region: "us-east-1", service: "service")
        return s.sign(method: method, canonicalURI: "/", canonicalQuery: SigV4.canonicalQuery(query),
                      headers: [Self.host] + extra + [("X-Amz-Date", Self.date)], payloadHash: SigV4.emptyPayloadHash, amzDate: Self.date)
    }

    @Test func getVanilla() {
        let s = sign("GET")
        #expect(s.canonicalRequest == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(s.stringToSign == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let s = sign("GET", query: [("Param2", "value2"), ("Param1", "value1")])
        #expect(s.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
        #expect(s.stringToSign.hasSuffix("\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"))
        #expect(s.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func postVanilla() {
        let s = sign("POST")
        #expect(s.canonicalRequest.hasPrefix("POST\n/\n\nhost:example.amazonaws.com\n"))
        #expect(s.signature == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test func getHeaderValueTrim() {
        let s = sign("GET", extra: [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")])
        #expect(s.canonicalRequest.contains("\nmy-header1:value1\nmy-header2:\"a b c\"\n"))
        #expect(s.authorization.contains("SignedHeaders=host;my-header1;my-header2;x-amz-date,"))
        #expect(s.signature == "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")
    }

    /// The S3 reference's example: GET /test.txt with Range: bytes=0-9 and x-amz-content-sha256 the
    /// hash of the empty body.
    @Test func s3GetObjectWithRange() {
        var signer = SigV4(credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                           region: "us-east-1", service: "s3")
        let date = "20130524T000000Z"
        let s = signer.sign(method: "GET", canonicalURI: SigV4.uriEncode("/test.txt", keepSlash: true), canonicalQuery: "",
                            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                                      ("x-amz-content-sha256", SigV4.emptyPayloadHash), ("x-amz-date", date)],
                            payloadHash: SigV4.emptyPayloadHash, amzDate: date)
        #expect(s.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(s.stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func uriEncoding() {
        #expect(SigV4.uriEncode("a b/c~_.-*", keepSlash: true) == "a%20b/c~_.-%2A")
        #expect(SigV4.uriEncode("a/b", keepSlash: false) == "a%2Fb")
        #expect(SigV4.uriEncode("é", keepSlash: false) == "%C3%A9")
    }
}
