import Foundation
import Testing
import ThingSpace
import ThingSpaceSimulator

/// The simulator's YAML config.
@Suite struct SimulatorConfigTests {
    @Test func defaultsDescribeTheDemoWorld() {
        let config = SimulatorConfig()
        #expect(config.accounts.map(\.name) == ["0000123456-00001"])
        #expect(config.oauthClients == [.init(key: "demo-key", secret: "demo-secret")])
        #expect(config.users == [.init(username: "demo-user", password: "demo-pass")])
        #expect(config.pageSize == 100)
        #expect(config.finalPageMode == .removeOnDelivery)
        #expect(config.sessionIdleTimeout == .seconds(1200))
        #expect(config.tokenLifetime == .seconds(3600))
        #expect(config.callbackTimeout == .seconds(5))
        #expect(config.pushAttempts == 1)
        #expect(config.accounts[0].devices.allSatisfy { device in
            device.ids.contains { $0.kind == "mdn" } && device.ids.contains { $0.kind == "esn" || $0.kind == "iccid" }
        })
    }

    @Test func yamlSetsEveryKnob() throws {
        let config = try SimulatorConfig.parse(yaml: """
            accounts:
              - name: "0000000001-00001"
                devices:
                  - { mdn: "5550001111", iccid: "89148000000000000001" }
                  - { imei: "490154203237518" }
              - name: "0000000002-00001"
            oauthClients:
              - { key: k1, secret: s1 }
            users:
              - { username: u1, password: p1 }
            pageSize: 25
            finalPageMode: strict
            sessionIdleTimeout: 5m
            tokenLifetime: 10m
            callbackTimeout: 250ms
            pushAttempts: 2
            lockoutThreshold: 3
            timestampOffset: "+00:00"
            emptyListenerList: emptyBody
            generatedDevices: 2
            """)
        #expect(config.accounts.count == 2)
        #expect(config.accounts[0].devices[0].ids == [DeviceID(kind: "mdn", id: "5550001111"), DeviceID(kind: "iccid", id: "89148000000000000001")])
        #expect(config.accounts[1].devices.isEmpty)
        #expect(config.pageSize == 25)
        #expect(config.finalPageMode == .strict)
        #expect(config.sessionIdleTimeout == .seconds(300))
        #expect(config.tokenLifetime == .seconds(600))
        #expect(config.callbackTimeout == .milliseconds(250))
        #expect(config.pushAttempts == 2)
        #expect(config.lockoutThreshold == 3)
        #expect(config.emptyListenerList == .emptyBody)
        #expect(config.generatedDevices == 2)
    }

    @Test(arguments: [
        ("pageSise: 10\n", "1:1", "unknown key 'pageSise'"),
        ("accounts:\n  - name: a\n    devices:\n      - { mdm: \"1\" }\n", "4:9", "unknown identifier kind 'mdm'"),
        ("finalPageMode: lazy\n", "1:16", "finalPageMode"),
        ("accounts: []\n", "1:11", "at least one account"),
        ("timestampOffset: \"PST\"\n", "1:18", "offset"),
        ("pushAttempts: 0\n", "1:15", "pushAttempts"),
    ])
    func mistakesAreLocated(yaml: String, location: String, fragment: String) {
        do {
            _ = try SimulatorConfig.parse(yaml: yaml, file: "sim.yaml")
            Issue.record("expected an error for \(yaml)")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("sim.yaml:\(location):"), "\(text)")
            #expect(text.contains(fragment), "\(text)")
        }
    }
}
