import BridgeCore
import Foundation
import Testing
import TestSupport

/// A config shape with nesting, lists, defaults and a custom validation, like the real ones.
private struct Sample: Decodable, Equatable {
    struct Server: Decodable, Equatable {
        var listen: ListenAddress
        var maxBodySize: ByteSize?
        var timeout: ConfigDuration?

        enum CodingKeys: String, CodingKey, CaseIterable { case listen, maxBodySize, timeout }
    }

    struct Account: Decodable, Equatable {
        var name: String
        var secret: String
    }

    var server: Server
    var accounts: [Account]
    var enabled: Bool?
    var limit: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case server, accounts, enabled, limit }
}

@Suite struct ConfigDecoderTests {
    let decoder = YAMLConfigDecoder(environment: ["SECRET": "from-env", "EMPTY": ""])

    @Test func decodesNestedValuesWithUnits() throws {
        let yaml = """
        server:
          listen: "127.0.0.1:0"
          maxBodySize: 64KiB
          timeout: 250ms
        accounts:
          - name: "0000123456-00001"
            secret: "${SECRET}"
        enabled: yes
        limit: 1_000
        """
        let value = try decoder.decode(Sample.self, from: yaml, file: "sample.yaml")
        #expect(value.server.listen == ListenAddress(host: "127.0.0.1", port: 0))
        #expect(value.server.maxBodySize?.bytes == 65536)
        #expect(value.server.timeout?.duration == .milliseconds(250))
        #expect(value.accounts == [.init(name: "0000123456-00001", secret: "from-env")])
        #expect(value.enabled == true)
        #expect(value.limit == 1000)
    }

    @Test func unknownKeyIsAnErrorWithItsLine() {
        let yaml = """
        server:
          listen: "127.0.0.1:0"
          lisen: "typo"
        accounts: []
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "sample.yaml") }
        #expect(error?.location == SourceLocation(file: "sample.yaml", line: 3, column: 3))
        #expect(error?.description.contains("unknown key 'lisen' in 'server'") == true)
        #expect(error?.description.contains("listen") == true)
    }

    @Test func aTypoIsNamedRatherThanTheKeyItLeftMissing() {
        let yaml = """
        server:
          lisen: ":8080"
        accounts: []
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.description.hasPrefix("c.yaml:2:3: unknown key 'lisen' in 'server'") == true)
    }

    @Test func aFailureEarlyInTheFileDoesNotCallLaterKeysUnknown() {
        let yaml = """
        server:
          listen: "bad"
        accounts: []
        limit: 3
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.description.contains("expected HOST:PORT") == true)
    }

    @Test func missingRequiredKeyNamesTheKey() {
        let yaml = """
        server:
          listen: ":8080"
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.description.hasPrefix("c.yaml:1:1: missing required key 'accounts'") == true)
    }

    @Test func typeErrorsPointAtTheValue() {
        let yaml = """
        server:
          listen: ":8080"
        accounts: []
        limit: lots
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.location?.line == 4)
        #expect(error?.description.contains("expected a whole number for 'limit', found 'lots'") == true)
    }

    @Test func customValidationErrorsAreLocated() {
        let yaml = """
        server:
          listen: "no-port-here"
        accounts: []
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.location?.line == 2)
        #expect(error?.description.contains("expected HOST:PORT") == true)
    }

    @Test func unsetEnvironmentVariableIsAnError() {
        let yaml = """
        server: { listen: ":1" }
        accounts:
          - { name: a, secret: "${NOT_SET_ANYWHERE}" }
        """
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.location?.line == 3)
        #expect(error?.description.contains("environment variable 'NOT_SET_ANYWHERE' is not set (used by 'accounts[0].secret')") == true)
    }

    @Test func defaultsAndFileReferencesExpand() async throws {
        try await withTemporaryDirectory { directory in
            let secretFile = try directory.write("from-file\n", to: "secret")
            let yaml = """
            server: { listen: ":1" }
            accounts:
              - { name: "${EMPTY:-fallback}", secret: "${file:\(secretFile.path)}" }
            """
            let value = try decoder.decode(Sample.self, from: yaml, file: "c.yaml")
            #expect(value.accounts == [.init(name: "fallback", secret: "from-file")])
        }
    }

    @Test func syntaxErrorsAreLocated() {
        let yaml = "server:\n  listen: [unclosed\naccounts: []\n"
        let error = #expect(throws: ConfigError.self) { try decoder.decode(Sample.self, from: yaml, file: "c.yaml") }
        #expect(error?.description.hasPrefix("c.yaml:") == true)
        #expect(error?.description.contains("YAML syntax error") == true)
    }

    @Test(arguments: [("512", 512), ("64KiB", 65536), ("16MiB", 16_777_216), ("10MB", 10_000_000)])
    func byteSizes(text: String, bytes: Int) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test func rejectsBadUnits() {
        #expect(ByteSize(parsing: "12 parsecs") == nil)
        #expect(ConfigDuration(parsing: "5 fortnights") == nil)
        #expect(ConfigDuration(parsing: "2m")?.duration == .seconds(120))
        #expect(ListenAddress(parsing: "[::1]:9090") == ListenAddress(host: "::1", port: 9090))
        #expect(ListenAddress(parsing: "host:99999") == nil)
    }
}
