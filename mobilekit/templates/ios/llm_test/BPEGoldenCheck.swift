// Checks ByteLevelBPETokenizer against goldens from the Python tokenizer (format and corpus:
// mobilekit/sdk/bpe_goldens.py). A real Swift source file, copied with only its `@testable import` line
// rewritten to the package's module: a generated XCTest calls `BPEGoldenCheck.check`; tests/sdk_llm
// compiles it with BPEGoldens/main.swift into a command-line checker.

import Foundation

@testable import MobilekitLLM

enum BPEGoldenCheck {
    /// Mismatch counts of one tokenizer, and the first mismatches of each kind, described.
    struct Result {
        let name: String
        let cases: Int
        let decodeCases: Int
        var encode = 0
        var encodeSpecial = 0
        var decode = 0
        var stream = 0
        var loadMs = 0
        var encodeMs = 0
        var totalMs = 0
        var messages: [String] = []
        private var shown: [String: Int] = [:]

        init(name: String, cases: Int, decodeCases: Int) {
            self.name = name
            self.cases = cases
            self.decodeCases = decodeCases
        }

        var mismatches: Int { encode + encodeSpecial + decode + stream }

        var summary: String {
            "RESULT name=\(name) cases=\(cases) decodeCases=\(decodeCases) encode=\(encode) "
                + "encodeSpecial=\(encodeSpecial) decode=\(decode) stream=\(stream) "
                + "loadMs=\(loadMs) encodeMs=\(encodeMs) totalMs=\(totalMs)"
        }

        /// Keeps the first three mismatches of a kind, so a failure says what went wrong.
        mutating func show(_ kind: String, _ detail: @autoclosure () -> String) {
            let count = shown[kind, default: 0]
            if count < 3 { messages.append("MISMATCH \(kind): \(detail())") }
            shown[kind] = count + 1
        }
    }

    /// The texts of a corpus file.
    static func readCorpus(_ text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let header = lines[0].split(separator: " ")
        precondition(header[0] == "mkbpe-corpus" && header[1] == "1", "not a corpus file")
        let texts = lines.dropFirst().map(unhex)
        precondition(texts.count == Int(header[2]) ?? -1, "corpus: expected \(header[2]) texts, found \(texts.count)")
        return texts
    }

    /// The tokenizer loaded from `asset` against a goldens file: encode, decode, streaming decode.
    static func check(name: String, asset: Data, goldens: String, corpus: [String]) throws -> Result {
        var started = Date()
        let tokenizer = try ByteLevelBPETokenizer(asset: asset)
        let loadMs = milliseconds(since: started)
        let lines = goldens.split(separator: "\n", omittingEmptySubsequences: true)
        let header = lines[0].split(separator: " ")
        precondition(header[0] == "mkbpe-goldens" && Int(header[3]) == corpus.count, "goldens do not match the corpus")
        var result = Result(name: name, cases: corpus.count, decodeCases: Int(header[4]) ?? -1)
        result.loadMs = loadMs
        var encodeSeconds = 0.0
        var index = 0
        started = Date()
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            if fields[0] == "E" {
                encodeSeconds += checkEncode(tokenizer, corpus[index], fields, &result)
                index += 1
            } else {
                checkDecode(tokenizer, parseIds(fields[1]), unhex(fields[2]), unhex(fields[3]), &result)
            }
        }
        result.encodeMs = Int(encodeSeconds * 1000)
        result.totalMs = milliseconds(since: started)
        return result
    }

    /// One `E` line: encode with and without special tokens, then decode the ids; returns encode's time.
    private static func checkEncode(
        _ tokenizer: ByteLevelBPETokenizer, _ text: String, _ fields: [Substring], _ result: inout Result
    ) -> Double {
        let ids = parseIds(fields[1])
        let started = Date()
        let got = tokenizer.encode(text)
        let seconds = Date().timeIntervalSince(started)
        if got != ids {
            result.encode += 1
            result.show("encode", "\(hex(text)) expected \(ids) got \(got)")
        }
        let full = fields[2] == "=" ? ids : parseIds(fields[2])
        if tokenizer.encode(text, addSpecialTokens: true) != full {
            result.encodeSpecial += 1
            result.show("encodeSpecial", hex(text))
        }
        let skipped = fields[3] == "=" ? text : unhex(fields[3])
        let kept = fields[4] == "=" ? text : unhex(fields[4])
        checkDecode(tokenizer, ids, skipped, kept, &result)
        return seconds
    }

    /// decode and streaming decode, skipping special tokens and keeping them (compared scalar by scalar:
    /// `String ==` would accept canonically equivalent texts).
    private static func checkDecode(
        _ tokenizer: ByteLevelBPETokenizer, _ ids: [Int32], _ skipped: String, _ kept: String, _ result: inout Result
    ) {
        for (skip, expected) in [(true, skipped), (false, kept)] {
            let got = tokenizer.decode(ids, skipSpecialTokens: skip)
            if !got.unicodeScalars.elementsEqual(expected.unicodeScalars) {
                result.decode += 1
                result.show("decode", "\(ids) skip=\(skip) expected \(hex(expected)) got \(hex(got))")
            }
            var decoder = tokenizer.streamingDecoder(skipSpecialTokens: skip)
            var streamed = ""
            for id in ids { streamed += decoder.push(id) }
            streamed += decoder.flush()
            if !streamed.unicodeScalars.elementsEqual(expected.unicodeScalars) {
                result.stream += 1
                result.show("stream", "\(ids) skip=\(skip) expected \(hex(expected)) got \(hex(streamed))")
            }
        }
    }

    private static func milliseconds(since start: Date) -> Int { Int(Date().timeIntervalSince(start) * 1000) }

    private static func parseIds(_ field: Substring) -> [Int32] {
        field == "-" ? [] : field.split(separator: ",").map { Int32($0) ?? -1 }
    }

    private static func unhex(_ field: Substring) -> String {
        if field == "-" { return "" }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.utf8.count / 2)
        var high: UInt8?
        for char in field.utf8 {
            let nibble = char <= 0x39 ? char - 0x30 : char - 0x61 + 10
            if let value = high {
                bytes.append(value << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02x", $0) }.joined()
    }
}
