// CHECK-ONLY declaration of the subset of Apple's Core ML API that the generated Swift package
// uses. It exists so that the `#if canImport(CoreML)` code can be type-checked on Linux, where
// Core ML does not exist: mobilekit compiles the generated sources beside this target (named
// `CoreML`, so `canImport(CoreML)` is true) and nothing here ever runs. It is NEVER shipped in a
// generated package.
//
// Mirrors the Swift interface of Apple's Core ML framework as documented at
// https://developer.apple.com/documentation/coreml (iOS 18 / macOS 15 SDK, Xcode 16):
// MLModel, MLModelConfiguration, MLComputeUnits, MLMultiArray, MLMultiArrayDataType,
// MLFeatureValue, MLFeatureProvider, MLDictionaryFeatureProvider, MLModelDescription,
// MLFeatureDescription, MLMultiArrayConstraint. Signatures, labels, optionality,
// `throws`/`async` and class-vs-instance members follow Apple's; bodies are placeholders.
// What this cannot check: availability (`@available` for iOS/macOS is ignored when compiling for
// Linux) and deprecations; review those against the SDK (docs/ios.md lists them).

import Foundation

private func checkOnly() -> Never {
    fatalError("check-only Core ML declaration: nothing here runs")
}

/// `enum MLComputeUnits : Int` (iOS 12+; `.cpuAndNeuralEngine` iOS 16+).
public enum MLComputeUnits: Int, Sendable {
    case cpuOnly = 0
    case cpuAndGPU = 1
    case all = 2
    @available(iOS 16.0, macOS 13.0, *)
    case cpuAndNeuralEngine = 3
}

/// `enum MLMultiArrayDataType : Int` (iOS 11+; `.float16` iOS 16+, `.int8` iOS 18+ omitted).
/// Raw values as in MLMultiArray.h (`MLMultiArrayDataTypeFloat32 = 0x10000 | 32` ...).
public enum MLMultiArrayDataType: Int, Sendable {
    case double = 0x10040
    case float32 = 0x10020
    @available(iOS 16.0, macOS 13.0, *)
    case float16 = 0x10010
    case int32 = 0x20020

    /// Aliases the header declares with the same raw values.
    public static var float64: MLMultiArrayDataType { .double }
    public static var float: MLMultiArrayDataType { .float32 }
}

/// `class MLModelConfiguration : NSObject, NSCopying, NSSecureCoding` (iOS 12+).
open class MLModelConfiguration: NSObject {
    open var computeUnits: MLComputeUnits = .all
    open var allowLowPrecisionAccumulationOnGPU: Bool = false
    /// iOS 18+: the function of a multifunction model this `MLModel` runs (nil: the default one).
    @available(iOS 18.0, macOS 15.0, *)
    open var functionName: String? {
        get { checkOnly() }
        set { checkOnly() }
    }
    override public init() {}
}

/// `class MLMultiArray : NSObject, NSSecureCoding` (iOS 11+).
open class MLMultiArray: NSObject {
    open var dataType: MLMultiArrayDataType { checkOnly() }
    open var shape: [NSNumber] { checkOnly() }
    open var strides: [NSNumber] { checkOnly() }
    open var count: Int { checkOnly() }

    public init(shape: [NSNumber], dataType: MLMultiArrayDataType) throws { checkOnly() }

    open subscript(idx: Int) -> NSNumber {
        get { checkOnly() }
        set { checkOnly() }
    }

    open subscript(key: [NSNumber]) -> NSNumber {
        get { checkOnly() }
        set { checkOnly() }
    }
}

/// The Swift overlay's storage access (iOS 15.4+ / macOS 12.3+); strides are in scalars.
extension MLMultiArray {
    @available(iOS 15.4, macOS 12.3, *)
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { checkOnly() }

    @available(iOS 15.4, macOS 12.3, *)
    public func withUnsafeMutableBytes<R>(
        _ body: (UnsafeMutableRawBufferPointer, [Int]) throws -> R
    ) rethrows -> R { checkOnly() }
}

/// `class MLMultiArrayConstraint : NSObject, NSSecureCoding` (iOS 11+).
open class MLMultiArrayConstraint: NSObject {
    open var shape: [NSNumber] { checkOnly() }
    open var dataType: MLMultiArrayDataType { checkOnly() }
}

/// `class MLFeatureDescription : NSObject, NSCopying, NSSecureCoding` (iOS 11+).
open class MLFeatureDescription: NSObject {
    open var multiArrayConstraint: MLMultiArrayConstraint? { checkOnly() }
}

/// `class MLModelDescription : NSObject, NSSecureCoding` (iOS 11+).
open class MLModelDescription: NSObject {
    open var inputDescriptionsByName: [String: MLFeatureDescription] { checkOnly() }
}

/// `class MLFeatureValue : NSObject, NSCopying, NSSecureCoding` (iOS 11+).
open class MLFeatureValue: NSObject {
    open var multiArrayValue: MLMultiArray? { checkOnly() }
    open var stringValue: String { checkOnly() }
    open var int64Value: Int64 { checkOnly() }
    open var doubleValue: Double { checkOnly() }

    public convenience init(multiArray value: MLMultiArray) { checkOnly() }
    public convenience init(string value: String) { checkOnly() }
    public convenience init(int64 value: Int64) { checkOnly() }
    public convenience init(double value: Double) { checkOnly() }
}

/// `protocol MLFeatureProvider` (iOS 11+).
public protocol MLFeatureProvider {
    var featureNames: Set<String> { get }
    func featureValue(for featureName: String) -> MLFeatureValue?
}

/// `class MLDictionaryFeatureProvider : NSObject, MLFeatureProvider, NSSecureCoding` (iOS 11+).
open class MLDictionaryFeatureProvider: NSObject, MLFeatureProvider {
    open var dictionary: [String: MLFeatureValue] { checkOnly() }
    open var featureNames: Set<String> { checkOnly() }

    /// Values must be `MLFeatureValue`s or convertible to one (NSNumber, String, MLMultiArray...).
    public init(dictionary: [String: Any]) throws { checkOnly() }

    open func featureValue(for featureName: String) -> MLFeatureValue? { checkOnly() }
}

/// `class MLModel : NSObject` (iOS 11+).
open class MLModel: NSObject {
    open var configuration: MLModelConfiguration { checkOnly() }
    open var modelDescription: MLModelDescription { checkOnly() }

    public convenience init(contentsOf url: URL) throws { checkOnly() }
    public convenience init(contentsOf url: URL, configuration: MLModelConfiguration) throws { checkOnly() }

    /// iOS 16+: `class func load(contentsOf:configuration:) async throws -> MLModel`.
    @available(iOS 16.0, macOS 13.0, *)
    open class func load(
        contentsOf url: URL,
        configuration: MLModelConfiguration = MLModelConfiguration()
    ) async throws -> MLModel { checkOnly() }

    /// iOS 11+ (deprecated in iOS 16 SDKs in favour of the async form).
    open class func compileModel(at modelURL: URL) throws -> URL { checkOnly() }

    /// iOS 16+: `class func compileModel(at:) async throws -> URL`.
    @available(iOS 16.0, macOS 13.0, *)
    open class func compileModel(at modelURL: URL) async throws -> URL { checkOnly() }

    open func prediction(from input: MLFeatureProvider) throws -> MLFeatureProvider { checkOnly() }
}
