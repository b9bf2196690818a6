//===----------------------------------------------------------------------===//
// ThingBridge — building a webhook group's endpoint sinks
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging

extension WebhookSinkConfig {
    /// Checks the endpoints' addresses and builds one sink per endpoint, sharing one HTTP client.
    ///
    /// - Parameters:
    ///   - group: The group's name in the main config.
    ///   - journal: Where the circuit breakers' state is kept (and read back after a restart);
    ///     `nil` keeps it in memory.
    ///   - now: The breakers' clock. Default the system clock.
    /// - Throws: ``WebhookSetupError`` for a refused address or an unreadable TLS file;
    ///   ``JournalError`` when the stored state cannot be read.
    public func makeEndpointSinks(
        group: String, journal: SQLiteJournal?, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) throws -> [WebhookEndpointSink] {
        if refusePrivateAddresses {
            for endpoint in endpoints {
                let host = endpoint.url.host ?? ""
                let refused = try AddressPolicy.nonPublicAddresses(of: host)
                if !refused.isEmpty {
                    throw WebhookSetupError(
                        "endpoint '\(group)/\(endpoint.name)': host '\(host)' resolves to non-public address(es) \(refused.joined(separator: ", ")) and refusePrivateAddresses is on"
                    )
                }
            }
        }
        let client = try WebhookClient(config: self, users: endpoints.count)
        // On a failure part-way, the sinks made so far are dropped unclosed; the client's
        // deinit shuts it down.
        var sinks: [WebhookEndpointSink] = []
        for endpoint in endpoints {
            sinks.append(try WebhookEndpointSink(
                group: group, endpoint: endpoint, config: self, client: client, journal: journal, logger: logger, now: now
            ))
        }
        for endpoint in endpoints {
            // The path only: a query string may carry a token.
            let url = endpoint.url
            logger.info("webhook endpoint", metadata: [
                "sink": "\(group)/\(endpoint.name)",
                "url": "\(url.scheme ?? "")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "")\(url.path)",
                "secrets": "\(endpoint.secrets.count)",
            ])
        }
        return sinks
    }
}
