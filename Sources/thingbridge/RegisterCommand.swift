//===----------------------------------------------------------------------===//
// ThingBridge — `thingbridge register`: callback listener registration
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeGateway
import Foundation
import Logging
import ThingSpace

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register, list or delete an account's callback listener with ThingSpace.",
        discussion: """
        Registers ThingBridge's callback URL as the account's EnhancedConnectivityService listener, with the
        callback username/password from the config (ThingSpace copies them into every callback body).
        Prints what ThingSpace answered. Needs the 'thingspace' section of the config.

          thingbridge register --account 0000123456-00001 --url https://bridge.example.com/callbacks/thingspace/0000123456-00001
          thingbridge register --account 0000123456-00001 --list
          thingbridge register --account 0000123456-00001 --delete
        """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "The account name (default: the first account of the config).")
    var account: String?

    @Option(help: "The public URL ThingSpace should POST to (https, on an allowed port: 443, 9001-9006, 50551-50559, 28200-28220, 80).")
    var url: String?

    @Option(help: "The callback service name.")
    var service: String = CallbackServiceName.enhancedConnectivity

    @Flag(help: "List the account's REST-registered listeners.")
    var list = false

    @Flag(help: "Delete the listener for --service.")
    var delete = false

    func run() async throws {
        let config = try options.load()
        guard let upstream = config.thingspace else {
            throw ValidationError("the config has no 'thingspace' section (baseURL, appKey, appSecret, username, password)")
        }
        guard let account = account.flatMap({ name in config.accounts.first { $0.name == name } }) ?? (account == nil ? config.accounts.first : nil) else {
            throw ValidationError("account '\(account ?? "")' is not in the config")
        }
        let client = ThingSpaceClient(config: upstream.clientConfig, logger: makeLogger(level: "warning"))
        do {
            if list {
                let listeners = try await client.listCallbacks(account: account.name)
                if listeners.isEmpty { print("no REST-registered listeners for \(account.name)") }
                for listener in listeners {
                    print("\(listener.serviceName)  \(listener.url)  username=\(listener.username ?? "-")")
                }
            } else if delete {
                let result = try await client.deregisterCallback(account: account.name, serviceName: service)
                print("deleted: account \(result.accountName), service \(result.serviceName)")
            } else {
                guard let url else { throw ValidationError("give --url (or --list / --delete)") }
                let result = try await client.registerCallback(account: account.name, RegisterCallbackRequest(
                    name: service, url: url, username: account.callback.username, password: account.callback.password
                ))
                print("registered: account \(result.accountName), service \(result.serviceName) → \(url)")
            }
        } catch let error as ThingSpaceError {
            await client.logout()
            printError("error: \(error)")
            throw ExitCode(1)
        }
        await client.logout()
    }
}
