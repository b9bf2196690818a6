//===----------------------------------------------------------------------===//
// ThingBridge — the gateway: ingress, admin, journal, dispatchers
//===----------------------------------------------------------------------===//

import BridgeCore
import BridgeSinks
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import ThingSpace

/// The running gateway, as one `Service`.
///
/// Start-up opens the journal, loads and validates the routes (every error with file and
/// line) and builds the sinks; only then do the listeners open. On graceful shutdown the
/// ingress stops accepting first, then the admin listener, then the dispatchers finish the
/// batch they hold and close their sinks. What is not delivered stays pending in the journal.
public final class Gateway: Service {
    public let config: GatewayConfig
    public let journal: SQLiteJournal
    public let ingest: Ingest
    /// Reloads the routes on SIGHUP and on changes in the routes folder.
    public let routeReloader: RouteReloader
    let dispatchers: [Dispatcher]
    /// One poller per account whose mode is not `off`, when `thingspace:` is configured.
    public let pollers: [String: HistoryPoller]
    /// The ThingSpace client, when `thingspace:` is configured.
    public let thingSpaceClient: ThingSpaceClient?
    /// Back-pressure: on when the backlog or the disk says the gateway must stop taking messages.
    public let backpressure: BackpressureMonitor
    let logger: Logger
    let metricsRegistry: PrometheusCollectorRegistry?
    private let ingressAddress = AsyncValue<ListenAddress>()
    private let adminAddress = AsyncValue<ListenAddress>()

    /// Builds everything and checks the configuration; nothing listens yet.
    /// - Throws: ``ConfigErrors`` for route problems, ``JournalError`` when the journal cannot open.
    public init(config: GatewayConfig, logger: Logger, metricsRegistry: PrometheusCollectorRegistry? = nil) throws {
        self.config = config
        self.logger = logger
        self.metricsRegistry = metricsRegistry
        let routes = try config.loadRoutes()
        try FileManager.default.createDirectory(at: config.dataDirectory, withIntermediateDirectories: true)
        journal = try config.openJournal()
        var signals: [String: DeliverySignal] = [:]
        var dispatchers: [Dispatcher] = []
        // Routes name a webhook group; its deliveries go to each endpoint's own sink (fan-out).
        var fanOut: [String: [String]] = [:]
        for (name, definition) in config.sinks.sorted(by: { $0.key < $1.key }) {
            let sinks = try definition.makeSinks(name: name, dataDirectory: config.dataDirectory, journal: journal, logger: logger)
            if sinks.map(\.name) != [name] { fanOut[name] = sinks.map(\.name) }
            for sink in sinks {
                let signal = DeliverySignal()
                signals[sink.name] = signal
                dispatchers.append(Dispatcher(
                    sink: sink, journal: journal, signal: signal, retry: definition.retry,
                    batchSize: definition.batchSize,
                    batchesInFlight: definition.batchesInFlight, logger: logger
                ))
            }
        }
        self.dispatchers = dispatchers
        ingest = Ingest(journal: journal, routes: routes, signals: signals, fanOut: fanOut, logger: logger)
        routeReloader = RouteReloader(
            ingest: ingest, directory: config.routesDirectory, logger: logger,
            load: { [config] () throws(ConfigErrors) -> RouteSet in try config.loadRoutes() }
        )
        // The pollers are made after the monitor (they ask it whether to pause); it wakes them on release.
        let pollersToWake = Mutex<[HistoryPoller]>([])
        let monitor = BackpressureMonitor(
            settings: config.journal.backpressure, journal: journal, dataDirectory: config.dataDirectory.path, logger: logger,
            onRelease: { for poller in pollersToWake.withLock({ $0 }) { poller.requestDrain() } }
        )
        backpressure = monitor
        if let upstream = config.thingspace {
            let client = ThingSpaceClient(config: upstream.clientConfig, logger: logger)
            thingSpaceClient = client
            var pollers: [String: HistoryPoller] = [:]
            for account in config.accounts where account.poller.mode != .off {
                pollers[account.name] = HistoryPoller(
                    account: account.name, settings: account.poller, client: client, ingest: ingest, logger: logger,
                    isPaused: { monitor.isOn }
                )
            }
            self.pollers = pollers
            pollersToWake.withLock { $0 = Array(pollers.values) }
        } else {
            thingSpaceClient = nil
            pollers = [:]
            logger.warning("no 'thingspace' section: callbacks only; messages ThingSpace queues after a failed push are not collected")
        }
        for account in config.accounts where account.callback.username.isEmpty && account.callback.password.isEmpty {
            logger.warning("account has empty callback credentials; anyone who can reach the listener can post for it", metadata: ["account": "\(account.name)"])
        }
        logger.info("routes loaded", metadata: ["routes": "\(routes.routes.count)", "folder": "\(config.routesDirectory.path)", "unmatched": "\(routes.unmatched)", "version": "\(routes.version)"])
    }

    /// The ingress address actually bound (the real port when configured with port 0).
    public func ingressListenAddress() async -> ListenAddress { await ingressAddress.get() }
    /// The admin address actually bound.
    public func adminListenAddress() async -> ListenAddress { await adminAddress.get() }

    public func run() async throws {
        let controller = CallbackController(
            accounts: Dictionary(uniqueKeysWithValues: config.accounts.map { ($0.name, $0) }),
            ingest: ingest, maxBodySize: config.ingress.maxBodySize.bytes, pollers: pollers, backpressure: backpressure, logger: logger
        )
        let ingressServer = CallbackServer(
            host: config.ingress.listen.host, port: config.ingress.listen.port, controller: controller,
            drainTimeout: config.shutdownTimeout, logger: logger,
            onBound: { [ingressAddress, logger] bound in
                logger.info("ingress listening", metadata: ["address": "\(bound)", "path": "\(CallbackController.pathPrefix)/{account}"])
                ingressAddress.set(bound)
            }
        )
        let adminRouter = Router(context: BasicRequestContext.self)
        var admin = AdminController(journal: journal, registry: metricsRegistry, pollers: pollers, backpressure: backpressure, routes: routeReloader)
        for dispatcher in dispatchers {
            if let sink = dispatcher.sink as? any SinkHealthReporting { admin.healthReporting[sink.name] = sink }
        }
        admin.register(on: adminRouter)
        let adminApp = Application(
            router: adminRouter,
            configuration: .init(address: .hostname(config.admin.listen.host, port: config.admin.listen.port), serverName: "thingbridge-admin"),
            onServerRunning: { [adminAddress, logger, config] channel in
                let port = channel.localAddress?.port ?? config.admin.listen.port
                let bound = ListenAddress(host: config.admin.listen.host, port: port)
                logger.info("admin listening", metadata: ["address": "\(bound)"])
                adminAddress.set(bound)
            },
            logger: logger
        )
        // Graceful shutdown runs in reverse order: ingress first, dispatchers last.
        let pollerServices: [any Service] = pollers.keys.sorted().compactMap { pollers[$0] }
        let services: [any Service] = [JournalMaintenance(journal: journal, retention: config.journal.retention, logger: logger), backpressure] + dispatchers + [routeReloader] + pollerServices + [adminApp, ingressServer]
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        // A sink stuck in a write must not keep the process from stopping: after the timeout the
        // rest is cancelled; what was not delivered stays pending in the journal.
        groupConfiguration.maximumGracefulShutdownDuration = config.shutdownTimeout
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        await thingSpaceClient?.logout()
        do { try journal.close() } catch { logger.error("closing the journal failed", metadata: ["error": "\(error)"]) }
        logger.info("gateway stopped")
    }
}
