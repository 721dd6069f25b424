// Reads the sampling / stop / chat-template goldens Python wrote (format: mobilekit/llm/sdk_goldens.py).
// A real Swift test file, copied into the package's test target with only its `@testable import`
// line rewritten to the package's module; the golden file is the resource Goldens/sampling_chat_goldens.txt.

import Foundation
import XCTest

@testable import MobilekitLLM

struct LlmGoldenFile {
    struct Sample {
        let name: String
        let logits: String
        let config: SamplerConfig
        let prompt: [Int]
        let tokens: [Int]?  // nil: the first step must fail
    }

    struct Chat {
        let name: String
        let shape: String
        let generation: Bool
        let thinking: Bool?
        let messages: [ChatMessage]
        let expected: String?  // nil: rendering must fail
    }

    struct Stop {
        let name: String
        let promptTokens: Int
        let contextLength: Int
        let criteria: StopCriteria
        let events: [(Int, String)]
        let reason: String
        let chunks: [String]
        let accepted: Int
    }

    var rng: [(UInt64, [UInt64])] = []
    var units: [(UInt64, [UInt64])] = []
    var exps: [(Double, Double)] = []
    var logits: [String: [[Float]]] = [:]
    var samples: [Sample] = []
    var chats: [Chat] = []
    var stops: [Stop] = []

    static func load() throws -> LlmGoldenFile {
        let url = try XCTUnwrap(
            Bundle.module.url(forResource: "sampling_chat_goldens", withExtension: "txt", subdirectory: "Goldens"))
        return try LlmGoldenFile(text: String(decoding: Data(contentsOf: url), as: UTF8.self))
    }

    init(text: String) throws {
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.first == "mobilekit-llm-goldens 1" else {
            throw GoldenError.format("not a mobilekit LLM golden file")
        }
        var index = 1
        while index < lines.count {
            let f = lines[index].split(separator: " ").map(String.init)
            index += 1
            switch f[0] {
            case "rng": rng.append((try Self.u64(f[1]), try f.dropFirst(3).map { try Self.u64($0) }))
            case "unit": units.append((try Self.u64(f[1]), try f.dropFirst(3).map { try Self.u64($0, radix: 16) }))
            case "exp": exps.append((try Self.double(f[1]), try Self.double(f[2])))
            case "logits":
                let steps = try Self.int(f[3])
                logits[f[1]] = try lines[index..<(index + steps)].map { row in
                    try row.split(separator: " ").map { try Self.float(String($0)) }
                }
                index += steps
            case "sample": samples.append(try Self.sample(f))
            case "chat":
                let count = try Self.int(f[5])
                let messages = try lines[index..<(index + count)].map { line -> ChatMessage in
                    let m = line.split(separator: " ").map(String.init)
                    guard let role = ChatRole(rawValue: m[1]) else { throw GoldenError.format("role \(m[1])") }
                    return ChatMessage(role: role, content: try Self.text(m[2]))
                }
                index += count
                let thinking: Bool? = f[4] == "-" ? nil : f[4] == "1"
                let expected = f[6] == "!" ? nil : try Self.text(f[6])
                chats.append(
                    Chat(
                        name: f[1], shape: f[2], generation: f[3] == "1", thinking: thinking, messages: messages,
                        expected: expected))
            case "stop":
                let count = try Self.int(f[7])
                let events = try lines[index..<(index + count)].map { line -> (Int, String) in
                    let e = line.split(separator: " ").map(String.init)
                    return (try Self.int(e[1]), try Self.text(e[2]))
                }
                let e = lines[index + count].split(separator: " ").map(String.init)
                index += count + 1
                let criteria = try StopCriteria(
                    stopTokenIds: Set(try Self.ints(f[5])), stopStrings: try Self.texts(f[6]),
                    maxNewTokens: try Self.int(f[4]))
                stops.append(
                    Stop(
                        name: f[1], promptTokens: try Self.int(f[2]), contextLength: try Self.int(f[3]),
                        criteria: criteria,
                        events: events, reason: e[1], chunks: try Self.texts(e[2]), accepted: try Self.int(e[3])))
            default: throw GoldenError.format("unknown golden line \(f[0])")
            }
        }
    }

    private static func sample(_ f: [String]) throws -> Sample {
        let config = try SamplerConfig(
            temperature: try double(decimal: f[3]), topK: try int(f[4]), topP: try double(decimal: f[5]),
            repetitionPenalty: try double(decimal: f[6]), seed: try u64(f[7]))
        let tokens = f[9] == "!" ? nil : try ints(f[9])
        return Sample(name: f[1], logits: f[2], config: config, prompt: try ints(f[8]), tokens: tokens)
    }

    enum GoldenError: Error {
        case format(String)
    }

    static func int(_ field: String) throws -> Int {
        guard let value = Int(field) else { throw GoldenError.format("not an integer: \(field)") }
        return value
    }

    static func u64(_ field: String, radix: Int = 10) throws -> UInt64 {
        guard let value = UInt64(field, radix: radix) else { throw GoldenError.format("not a u64: \(field)") }
        return value
    }

    static func ints(_ field: String) throws -> [Int] {
        field == "-" ? [] : try field.split(separator: ",").map { try int(String($0)) }
    }

    static func double(_ hex: String) throws -> Double { Double(bitPattern: try u64(hex, radix: 16)) }

    static func double(decimal: String) throws -> Double {
        guard let value = Double(decimal) else { throw GoldenError.format("not a double: \(decimal)") }
        return value
    }

    static func float(_ hex: String) throws -> Float {
        guard let bits = UInt32(hex, radix: 16) else { throw GoldenError.format("not a float: \(hex)") }
        return Float(bitPattern: bits)
    }

    static func text(_ field: String) throws -> String {
        if field == "_" { return "" }
        var bytes = [UInt8]()
        var at = field.startIndex
        while at < field.endIndex {
            let next = field.index(at, offsetBy: 2)
            guard let byte = UInt8(field[at..<next], radix: 16) else { throw GoldenError.format("not hex: \(field)") }
            bytes.append(byte)
            at = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func texts(_ field: String) throws -> [String] {
        field == "-" ? [] : try field.split(separator: ",").map { try text(String($0)) }
    }

    /// Prints the count line the Python test collects, and fails with the first mismatches.
    static func report(_ kind: String, _ total: Int, _ mismatches: [String]) {
        print("MOBILEKIT-GOLDENS swift \(kind) \(total - mismatches.count) \(total)")
        if !mismatches.isEmpty {
            XCTFail(
                "\(mismatches.count) of \(total) \(kind) goldens differ:\n"
                    + mismatches.prefix(10).joined(separator: "\n"))
        }
    }
}
