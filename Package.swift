// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "herald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herald", targets: ["herald"]),
        .executable(name: "herald-js", targets: ["herald-js"]),
        .library(name: "HeraldVerify", targets: ["HeraldVerify"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OpenTelemetry traces over OTLP/HTTP only: the gRPC exporter's dependencies stay out.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Receiver library: signing and verification. Depends on swift-crypto only.
        .target(
            name: "HeraldVerify",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // JSON: the value, its parser and writer, and the JSON Schema validator. Depends on Foundation only.
        .target(name: "HeraldJSON"),
        // Domain types, matching, retry strategy, delivery state machine, store protocols.
        .target(
            name: "HeraldCore",
            dependencies: [
                "HeraldJSON",
                "HeraldVerify",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The outbox in memory: the engine's unit tests run on it, and a new backend copies it.
        .target(name: "HeraldMemory", dependencies: ["HeraldCore"]),
        // SQLite store conformance and migrations.
        .target(
            name: "HeraldSQLite",
            dependencies: [
                "HeraldCore",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // PostgreSQL store for many nodes on one database: same protocols, same conformance suite.
        .target(
            name: "HeraldPostgres",
            dependencies: [
                "HeraldCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The delivery engine: fan-out, claim, sign, send, record, retry.
        .target(
            name: "HeraldDelivery",
            dependencies: [
                "CHeraldJS",
                "HeraldCore",
                "HeraldVerify",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The Hummingbird application: API, operations endpoints, wiring.
        .target(
            name: "HeraldServer",
            dependencies: [
                "HeraldCore",
                "HeraldSQLite",
                "HeraldPostgres",
                "HeraldDelivery",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            resources: [.copy("Resources/openapi.yaml")]
        ),
        // The JavaScript worker process for hook filters and transforms (Duktape, from the system:
        // Debian's `duktape-dev`). A separate program so a runaway script can be killed.
        .target(
            name: "CHeraldJS",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("duktape"), .linkedLibrary("m")]
        ),
        .executableTarget(name: "herald-js", dependencies: ["CHeraldJS"]),
        // `herald bench`: Herald under load against a local receiver, next to a raw client baseline.
        .target(
            name: "HeraldBench",
            dependencies: [
                "HeraldServer",
                "HeraldDelivery",
                "HeraldSQLite",
                "HeraldPostgres",
                "HeraldVerify",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldBench",
                "HeraldServer",
                "HeraldDelivery",
                "HeraldSQLite",
                "HeraldPostgres",
                "CHeraldJS",
                "HeraldVerify",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        // The receiver shown in README.md, compiled and tested as written.
        .target(
            name: "ReceiverExample",
            dependencies: ["HeraldVerify", .product(name: "Hummingbird", package: "hummingbird")],
            path: "Examples/ReceiverExample"
        ),
        .testTarget(name: "HeraldVerifyTests", dependencies: ["HeraldVerify"]),
        .testTarget(name: "HeraldJSONTests", dependencies: ["HeraldJSON"]),
        .testTarget(name: "HeraldCoreTests", dependencies: ["HeraldCore"]),
        .testTarget(
            name: "HeraldDeliveryTests",
            dependencies: [
                "HeraldDelivery",
                "HeraldCore",
                "HeraldMemory",
                "HeraldVerify",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "HeraldStoreTests",
            dependencies: ["HeraldCore", "HeraldMemory", "HeraldSQLite", "HeraldPostgres", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "HeraldServerTests",
            dependencies: [
                "HeraldServer",
                "HeraldPostgres",
                .product(name: "Crypto", package: "swift-crypto"),
                "herald",
                "ReceiverExample",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
