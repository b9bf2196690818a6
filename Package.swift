// swift-tools-version: 6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "ThingBridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "thingbridge", targets: ["thingbridge"]),
        .library(name: "BridgeGateway", targets: ["BridgeGateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Already in the graph through async-http-client; named for the webhook sink's TLS settings.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // librdkafka from the system (Debian `librdkafka-dev`), found through pkg-config.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        .target(
            name: "RdKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "ThingSpace",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        // A faithful fake of the ThingSpace endpoints (thingspace-api.md §7), for tests, the demo
        // and `thingbridge simulate`.
        .target(
            name: "ThingSpaceSimulator",
            dependencies: [
                "ThingSpace",
                "BridgeCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "BridgeCore",
            dependencies: [
                "ThingSpace",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the journal's hot insert path only (Journal/RawStatement.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                // Payload templates of route destinations (Routing/PayloadRenderer.swift).
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "BridgeSinks",
            dependencies: [
                "BridgeCore",
                "RdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // The webhook sink: HTTP client, TLS settings, Standard Webhooks signatures.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "BridgeGateway",
            dependencies: [
                "BridgeCore",
                "BridgeSinks",
                "ThingSpace",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                // The callback listener is SwiftNIO directly (CallbackServer.swift); admin is Hummingbird.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "thingbridge",
            dependencies: [
                "BridgeGateway",
                "BridgeCore",
                "BridgeSinks",
                "RdKafka",
                "ThingSpace",
                "ThingSpaceSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        // Benchmarks (run with `make bench`; they print tables, they assert nothing).
        .executableTarget(
            name: "DrainBenchmark",
            dependencies: [
                "BridgeGateway", "BridgeCore", "ThingSpace", "ThingSpaceSimulator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/DrainBenchmark",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "HTTPFloor",
            dependencies: [
                // The ingress benchmark's floor: CallbackServer's HTTP stack answering at once.
                "BridgeGateway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/HTTPFloor",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "KafkaBenchmark",
            dependencies: [
                "BridgeGateway", "BridgeCore", "BridgeSinks", "RdKafka", "ThingSpace",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/KafkaBenchmark",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "WebhookBenchmark",
            dependencies: [
                "BridgeCore", "BridgeSinks", "ThingSpace",
                // The reference row: the same requests from AsyncHTTPClient alone.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // Collects the sink's request-duration timer for the latency percentiles.
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Benchmarks/WebhookBenchmark",
            swiftSettings: upcoming
        ),
        // Helpers shared by the test targets (temporary folders, polling with a deadline).
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: upcoming
        ),
        // A scriptable HTTP receiver on loopback for the webhook tests (SwiftNIO, port 0).
        .target(
            name: "WebhookTestSupport",
            dependencies: [
                "BridgeSinks",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/WebhookTestSupport",
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "RdKafkaTests",
            dependencies: ["RdKafka", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming
        ),
        .testTarget(name: "ThingSpaceTests", dependencies: ["ThingSpace"], swiftSettings: upcoming),
        .testTarget(
            name: "ThingSpaceSimulatorTests",
            dependencies: [
                "ThingSpaceSimulator", "ThingSpace", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BridgeSinksTests",
            dependencies: [
                "BridgeSinks", "BridgeCore", "RdKafka", "TestSupport", "WebhookTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BridgeGatewayTests",
            dependencies: [
                "BridgeGateway", "BridgeCore", "BridgeSinks", "RdKafka", "TestSupport", "ThingSpace", "ThingSpaceSimulator", "WebhookTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)
