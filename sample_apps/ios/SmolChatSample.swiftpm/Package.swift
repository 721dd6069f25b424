// swift-tools-version: 5.9
// An app package (Xcode 16+, for the iOS 18 SDK): open this folder in Xcode and run it on an iOS 18
// simulator or device. It uses the Swift package mobilekit builds for examples/smollm2-chat,
// unzipped next to this folder as ../SmolChatKit (see ../README.md). Not buildable on Linux.

import AppleProductTypes
import PackageDescription

let package = Package(
    name: "Smol Chat Sample",
    // The SDK's multifunction Core ML model (prefill and decode in one file) needs iOS 18.
    platforms: [.iOS("18.0")],
    products: [
        .iOSApplication(
            name: "Smol Chat Sample",
            targets: ["AppModule"],
            bundleIdentifier: "com.example.smolchat.sample",
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
        .package(path: "../SmolChatKit")
    ],
    targets: [
        .executableTarget(
            name: "AppModule",
            dependencies: [.product(name: "SmolChatKit", package: "SmolChatKit")],
            path: "Sources"
        )
    ]
)
