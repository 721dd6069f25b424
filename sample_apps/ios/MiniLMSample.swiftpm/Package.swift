// swift-tools-version: 5.9
// An app package (Xcode 15+ / Swift Playgrounds 4.4+): open this folder in Xcode and run it on an
// iOS simulator. It uses the Swift package mobilekit builds for examples/minilm-embeddings,
// unzipped next to this folder as ../MiniLMKit (see docs/ios.md). Not buildable on Linux.

import AppleProductTypes
import PackageDescription

let package = Package(
    name: "MiniLM Sample",
    platforms: [.iOS("16.0")],
    products: [
        .iOSApplication(
            name: "MiniLM Sample",
            targets: ["AppModule"],
            bundleIdentifier: "com.example.minilm.sample",
            teamIdentifier: "",
            displayVersion: "1.0",
            bundleVersion: "1",
            appIcon: .placeholder(icon: .sparkle),
            accentColor: .presetColor(.blue),
            supportedDeviceFamilies: [.pad, .phone],
            supportedInterfaceOrientations: [.portrait, .landscapeLeft, .landscapeRight]
        )
    ],
    dependencies: [
        .package(path: "../MiniLMKit")
    ],
    targets: [
        .executableTarget(
            name: "AppModule",
            dependencies: [.product(name: "MiniLMKit", package: "MiniLMKit")],
            path: "Sources"
        )
    ]
)
