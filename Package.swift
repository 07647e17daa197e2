// swift-tools-version: 6.2
import Foundation
import PackageDescription

// Warnings are errors in CI (CI=true), for this package's targets only.
let warningsAreErrors = ProcessInfo.processInfo.environment["CI"] == "true"
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
] + (warningsAreErrors ? [.treatAllWarnings(as: .error)] : [])

let package = Package(
    name: "podman-bootc",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "podman-bootc", targets: ["podman-bootc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(name: "CXattr"),
        .systemLibrary(name: "CSeccomp"),

        .target(name: "BootcCore", swiftSettings: swiftSettings),
        .target(
            name: "Host",
            dependencies: [
                "BootcCore",
                "CSeccomp",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(name: "Podman", dependencies: ["BootcCore", "Host"], swiftSettings: swiftSettings),
        .target(
            name: "Installer",
            dependencies: ["BootcCore", "Host", "Podman", "CXattr", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        .target(
            name: "Invariance",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        .target(
            name: "Layers",
            dependencies: ["Host", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        .target(
            name: "Export",
            dependencies: ["BootcCore", "Host", "Podman", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        .target(name: "Libvirt", dependencies: ["BootcCore", "CLibvirt"], swiftSettings: swiftSettings),
        .target(
            name: "SSH",
            dependencies: ["BootcCore", "Host", "CLibSSH2", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        // The pipeline: resolve -> build -> install -> boot -> connect -> command, behind ports.
        .target(
            name: "BootcPipeline",
            dependencies: [
                "BootcCore", "Host", "Podman", "Installer", "Invariance", "Layers", "Libvirt", "SSH", "Export",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Commands: parse, call the pipeline, render. Never Libvirt, SSH, Installer or Host.
        .target(
            name: "BootcCLI",
            dependencies: [
                "BootcCore", "BootcPipeline", "Podman", "Invariance", "Layers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(name: "podman-bootc", dependencies: ["BootcCLI", "Host"], swiftSettings: swiftSettings),

        .target(name: "GoldenFiles", path: "Tests/GoldenFiles"),
        // Fakes of the pipeline's ports (hypervisor, guest shell, disks, processes) for tests.
        .target(
            name: "PipelineFakes",
            dependencies: ["BootcPipeline", "BootcCore", "Host", "Installer", "Invariance", "Podman", .product(name: "Logging", package: "swift-log")],
            path: "Tests/PipelineFakes", swiftSettings: swiftSettings),
        .testTarget(name: "BootcCoreTests", dependencies: ["BootcCore", "GoldenFiles"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "HostTests", dependencies: ["Host", "BootcCore"], swiftSettings: swiftSettings),
        .testTarget(name: "PodmanTests", dependencies: ["Podman", "Host", "GoldenFiles"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "InstallerTests", dependencies: ["Installer", "Host", "Podman", "BootcCore", "GoldenFiles", .product(name: "Logging", package: "swift-log")], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Host", "GoldenFiles"], exclude: ["Golden", "Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "InvarianceTests", dependencies: ["Invariance", "GoldenFiles"], swiftSettings: swiftSettings),
        .testTarget(name: "ExportTests", dependencies: ["Export", "BootcCore", "Host", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt", "GoldenFiles"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(name: "SSHTests", dependencies: ["SSH", "GoldenFiles"], exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(
            name: "BootcPipelineTests",
            dependencies: ["BootcPipeline", "PipelineFakes", "BootcCore", "Host", "Installer", "Podman", "Export", "SSH"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "BootcCLITests",
            dependencies: ["BootcCLI", "BootcPipeline", "PipelineFakes", "GoldenFiles", "BootcCore", "Host", "Installer",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["BootcCore", "GoldenFiles", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: swiftSettings),
    ]
)
