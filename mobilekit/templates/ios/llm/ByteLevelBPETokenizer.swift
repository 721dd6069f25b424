// Static source shipped by mobilekit (templates/ios/llm/). The generator copies this file into a Swift
// package as is: everything model-specific (vocabulary, merges, added tokens, pre-tokenizer, Unicode
// classes) is in the asset written by mobilekit/sdk/bpe_data.py, whose docstring specifies the format.
// Foundation only (no platform Unicode data: it varies by OS version); Swift 6 strict concurrency.

import Foundation

/// Byte-level BPE (GPT-2, SmolLM2, Qwen, Llama-3 style) with exactly the ids of the Hugging Face
/// `tokenizers` library the model was trained with:
///
/// 1. added tokens (`<|im_start|>`...) typed in the text are split out first, each becoming its id;
/// 2. the pieces between them are normalized (NFC, when the model says so, from tables in the asset:
///    `tokenizers` normalizes with Unicode 9 data, Foundation with the OS's), then split around the
///    added tokens that match normalized text;
/// 3. the pre-tokenizer cuts each piece with the model's regex (GPT-2, Llama-3 or Qwen2), run by a
///    hand-written scanner over Unicode scalars whose letter/number/space classes come from the asset
///    (measured from `tokenizers`, so they do not depend on the OS's Unicode version);
/// 4. each cut is turned into UTF-8 bytes and merged by BPE rank, as `tokenizers` does.
///
/// Text is handled as Unicode scalars, never as `Character`s or by `String` comparison, which would
/// treat canonically equivalent texts as equal. `decode` turns ids back into text (invalid UTF-8 becomes
/// U+FFFD, as Rust's `from_utf8_lossy`); a `StreamingDecoder` does the same id by id. Immutable: safe to
/// share between tasks.
public final class ByteLevelBPETokenizer: Sendable {
    /// A token split out of the text before anything else, as the `added_tokens` of `tokenizer.json`.
    public struct AddedToken: Sendable, Equatable {
        /// The text matched: the content, normalized for a `normalized` token.
        public let pattern: String
        /// The id the match becomes.
        public let id: Int32
        /// Skipped by `decode(_:skipSpecialTokens:)` with `skipSpecialTokens` true.
        public let special: Bool
        /// Matched in the normalized text rather than in the text as typed.
        public let normalized: Bool
        /// The match takes the white space before it along.
        public let stripsLeft: Bool
        /// The match takes the white space after it along.
        public let stripsRight: Bool
        /// Matches only where no word character touches it.
        public let singleWord: Bool
        let scalars: [UInt32]

        init(pattern: String, id: Int32, flags: UInt32) {
            self.pattern = pattern
            self.id = id
            special = flags & 1 != 0
            normalized = flags & 2 != 0
            stripsLeft = flags & 4 != 0
            stripsRight = flags & 8 != 0
            singleWord = flags & 16 != 0
            scalars = pattern.unicodeScalars.map(\.value)
        }
    }

    /// Why an asset cannot be loaded.
    public enum AssetError: Error, Equatable, Sendable, CustomStringConvertible {
        case notAnAsset
        case malformed(String)

        public var description: String {
            switch self {
            case .notAnAsset:
                return "not a mobilekit BPE asset of this version (expected the magic MKBPE001)"
            case .malformed(let detail):
                return "malformed BPE asset: \(detail)"
            }
        }
    }

    /// Turns ids into text one id at a time, for streaming generated tokens: `push` returns only whole
    /// characters and keeps the bytes of a character that later ids may complete, so pieces never hold
    /// half of an emoji; `flush` at the end returns what is left (U+FFFD for an unfinished character).
    /// All pieces joined equal `decode` of all ids.
    public struct StreamingDecoder: Sendable {
        private let tokenizer: ByteLevelBPETokenizer
        private let skipSpecialTokens: Bool
        private var pending: [UInt8] = []

        init(tokenizer: ByteLevelBPETokenizer, skipSpecialTokens: Bool) {
            self.tokenizer = tokenizer
            self.skipSpecialTokens = skipSpecialTokens
        }

        /// The text `id` completes; empty while a character is still unfinished.
        public mutating func push(_ id: Int32) -> String {
            tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending)
            var out = String.UnicodeScalarView()
            let used = UTF8Lossy.decode(pending, final: false, into: &out)
            pending.removeFirst(used)
            return String(out)
        }

        /// What is left at the end of the stream; the decoder is then empty again.
        public mutating func flush() -> String {
            var out = String.UnicodeScalarView()
            _ = UTF8Lossy.decode(pending, final: true, into: &out)
            pending.removeAll()
            return String(out)
        }
    }

    /// The added tokens (special or not) of the model, in id order.
    public let addedTokens: [AddedToken]
    private let nfc: NFC?
    private let steps: [UInt32]
    private let classes: UnicodeClasses
    private let folds: [UInt32: UInt32]
    private let byteIds: [Int32]
    private let merges: [UInt64: UInt64]  // left << 32 | right -> rank << 32 | merged id
    private let encodeMap: [[UInt8]: Int32]?  // ignore_merges: a piece that is a whole token
    private let tokenBytes: [[UInt8]?]
    private let special: [Bool]
    private let rawTokens: AddedTokenMatcher
    private let normalizedTokens: AddedTokenMatcher
    private let prefixIds: [Int32]
    private let suffixIds: [Int32]

    /// Loads the asset written by mobilekit (`tokenizer.mkbpe`), e.g. from `Bundle.module`.
    public convenience init(contentsOf url: URL) throws {
        try self.init(asset: try Data(contentsOf: url))
    }

    /// Reads the asset bytes; throws `AssetError` if they are not a well-formed asset.
    public init(asset: Data) throws {
        typealias Tokenizer = ByteLevelBPETokenizer
        var reader = AssetReader(bytes: [UInt8](asset))
        try reader.requireMagic("MKBPE001")
        let flags = try reader.u32()
        steps = try reader.list(1)
        classes = try UnicodeClasses(runs: try reader.list(2))
        folds = try Tokenizer.readFolds(&reader)
        byteIds = try reader.u32s(256).map { Int32(bitPattern: $0) }
        merges = try Tokenizer.readMerges(&reader)
        let tables = try TokenTables(&reader, ignoreMerges: flags & 2 != 0)
        tokenBytes = tables.bytes
        special = tables.special
        encodeMap = tables.encodeMap
        let added = try Tokenizer.readAddedTokens(&reader)
        addedTokens = added
        rawTokens = AddedTokenMatcher(added.filter { !$0.normalized })
        normalizedTokens = AddedTokenMatcher(added.filter { $0.normalized })
        prefixIds = try reader.list(1).map { Int32(bitPattern: $0) }
        suffixIds = try reader.list(1).map { Int32(bitPattern: $0) }
        let nfcClasses = try reader.list(2)
        let nfcDecompositions = try reader.list(1)
        let nfcTables = NFC(classes: nfcClasses, decompositions: nfcDecompositions, compositions: try reader.list(3))
        nfc = flags & 1 != 0 ? nfcTables : nil
        guard reader.atEnd else { throw AssetError.malformed("trailing bytes") }
    }

    private static func readFolds(_ reader: inout AssetReader) throws -> [UInt32: UInt32] {
        let pairs = try reader.list(2)
        var folds: [UInt32: UInt32] = [:]
        for k in stride(from: 0, to: pairs.count, by: 2) { folds[pairs[k]] = pairs[k + 1] }
        return folds
    }

    private static func readMerges(_ reader: inout AssetReader) throws -> [UInt64: UInt64] {
        let triples = try reader.list(3)
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(triples.count / 3)
        for rank in 0..<(triples.count / 3) {
            let key = UInt64(triples[3 * rank]) << 32 | UInt64(triples[3 * rank + 1])
            merges[key] = UInt64(rank) << 32 | UInt64(triples[3 * rank + 2])
        }
        return merges
    }

    private static func readAddedTokens(_ reader: inout AssetReader) throws -> [AddedToken] {
        var tokens: [AddedToken] = []
        let count = try reader.count()
        for _ in 0..<count {
            let id = Int32(bitPattern: try reader.u32())
            let flags = try reader.u32()
            let bytes = try reader.blob()
            guard let pattern = String(bytes: bytes, encoding: .utf8) else {
                throw AssetError.malformed("an added token is not UTF-8")
            }
            tokens.append(AddedToken(pattern: pattern, id: id, flags: flags))
        }
        return tokens
    }

    /// The decode table (id -> bytes, special) and, with ignore_merges, the encode map (bytes -> id).
    private struct TokenTables {
        var bytes: [[UInt8]?] = []
        var special: [Bool] = []
        var encodeMap: [[UInt8]: Int32]?

        init(_ reader: inout AssetReader, ignoreMerges: Bool) throws {
            var entries: [(id: Int, flags: UInt32, bytes: [UInt8])] = []
            let count = try reader.count()
            for _ in 0..<count {
                let id = Int(try reader.u32())
                let flags = try reader.u32()
                let bytes = try reader.blob()
                entries.append((id, flags, bytes))
            }
            let size = (entries.map(\.id).max() ?? -1) + 1
            // The decode table is indexed by id: refuse absurd ids rather than allocate for them.
            guard size <= 1 << 24 else { throw AssetError.malformed("token id \(size - 1)") }
            bytes = [[UInt8]?](repeating: nil, count: size)
            special = [Bool](repeating: false, count: size)
            encodeMap = ignoreMerges ? [:] : nil
            for entry in entries {
                if entry.flags & 4 != 0 {  // TOKEN_DECODES
                    bytes[entry.id] = entry.bytes
                    special[entry.id] = entry.flags & 1 != 0
                }
                if entry.flags & 2 != 0 { encodeMap?[entry.bytes] = Int32(entry.id) }
            }
        }
    }

    /// One more than the largest id `decode` knows.
    public var vocabularySize: Int { tokenBytes.count }

    /// Whether `decode` with `skipSpecialTokens` true drops `id`.
    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < special.count && special[Int(id)]
    }

    /// The ids of `text`, as `tokenizer(text, add_special_tokens=False)` in Python. With
    /// `addSpecialTokens`, the ids the model's post-processor puts around a text (a BOS for Llama-3,
    /// none for SmolLM2 or Qwen) are added, as `tokenizer(text)` does.
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int32] {
        var out: [Int32] = addSpecialTokens ? prefixIds : []
        let scalars = text.unicodeScalars.map(\.value)
        for piece in rawTokens.split(scalars, classes: classes) {
            if piece.id >= 0 {
                out.append(piece.id)
                continue
            }
            var segment = Array(scalars[piece.start..<piece.end])
            if let nfc { segment = nfc.normalize(segment) }
            for inner in normalizedTokens.split(segment, classes: classes) {
                if inner.id >= 0 {
                    out.append(inner.id)
                } else {
                    encodeText(Array(segment[inner.start..<inner.end]), into: &out)
                }
            }
        }
        if addSpecialTokens { out += suffixIds }
        return out
    }

    /// The text of `ids`, as `tokenizer.decode(ids, skip_special_tokens=...)` in Python: the tokens' bytes
    /// joined, invalid UTF-8 replaced by U+FFFD. Unknown ids are skipped, as in `tokenizers`.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        var out = String.UnicodeScalarView()
        _ = UTF8Lossy.decode(bytes, final: true, into: &out)
        return String(out)
    }

    /// A decoder fed one id at a time (while generating); see `StreamingDecoder`.
    public func streamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    private func appendBytes(of id: Int32, skipSpecialTokens: Bool, to out: inout [UInt8]) {
        guard id >= 0, Int(id) < tokenBytes.count, let bytes = tokenBytes[Int(id)] else { return }
        if skipSpecialTokens && special[Int(id)] { return }
        out += bytes
    }
}

// MARK: - Pre-tokenizer and BPE

extension ByteLevelBPETokenizer {
    private enum Step {
        static let prefixSpace: UInt32 = 1
        static let digitsIsolated: UInt32 = 2
        static let digitsContiguous: UInt32 = 3
        static let regexGPT2: UInt32 = 4
        static let regexLlama3: UInt32 = 5
        static let regexQwen2: UInt32 = 6
    }

    fileprivate enum ClassBit {
        static let letter: UInt8 = 1
        static let number: UInt8 = 2
        static let space: UInt8 = 4
        static let numeric: UInt8 = 8
        static let word: UInt8 = 16
        static let strip: UInt8 = 32
    }

    /// What the regexes tell apart: a letter, a number, white space, or other (`[^\s\p{L}\p{N}]`).
    private enum Kind {
        case letter, number, space, other
    }

    private static let space: UInt32 = 0x20
    private static let apostrophe: UInt32 = 0x27

    /// The pre-tokenizer steps on one piece of text, then BPE on each of the cuts.
    private func encodeText(_ text: [UInt32], into out: inout [Int32]) {
        var pieces = [text]
        for step in steps {
            var next: [[UInt32]] = []
            for piece in pieces { apply(step, to: piece, into: &next) }
            pieces = next
        }
        for piece in pieces { bpe(UTF8Lossy.encode(piece), into: &out) }
    }

    private func apply(_ step: UInt32, to piece: [UInt32], into out: inout [[UInt32]]) {
        switch step {
        case Step.prefixSpace:
            out.append(piece.first == Self.space ? piece : [Self.space] + piece)
        case Step.digitsIsolated, Step.digitsContiguous:
            splitNumeric(piece, isolated: step == Step.digitsIsolated, into: &out)
        default:
            var start = 0
            while start < piece.count {
                let end = regexMatchEnd(step, piece, start)
                out.append(Array(piece[start..<end]))
                start = end
            }
        }
    }

    /// The Digits pre-tokenizer: numeric characters alone (`isolated`) or in runs, and the text between.
    private func splitNumeric(_ piece: [UInt32], isolated: Bool, into out: inout [[UInt32]]) {
        var start = 0
        while start < piece.count {
            let numeric = classes.has(piece[start], ClassBit.numeric)
            var end = start + 1
            if !numeric || !isolated {
                while end < piece.count && classes.has(piece[end], ClassBit.numeric) == numeric { end += 1 }
            }
            out.append(Array(piece[start..<end]))
            start = end
        }
    }

    /// Where the model's regex match that starts at `i` ends (the regexes match every character).
    private func regexMatchEnd(_ step: UInt32, _ c: [UInt32], _ i: Int) -> Int {
        if let end = contractionEnd(c, i, ignoreCase: step != Step.regexGPT2) { return end }
        switch step {
        case Step.regexGPT2: return gpt2End(c, i)
        case Step.regexLlama3: return llamaEnd(c, i, maxDigits: 3)
        default: return llamaEnd(c, i, maxDigits: 1)
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, case-insensitive as Oniguruma folds (`'S`, `'ſ`) for Llama-3/Qwen2.
    private func contractionEnd(_ c: [UInt32], _ i: Int, ignoreCase: Bool) -> Int? {
        guard c[i] == Self.apostrophe, i + 1 < c.count else { return nil }
        let second = contractionLetter(c[i + 1], ignoreCase: ignoreCase)
        let third = i + 2 < c.count ? contractionLetter(c[i + 2], ignoreCase: ignoreCase) : 0
        switch second {
        case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
        case 0x72, 0x76: return third == 0x65 ? i + 3 : nil  // re ve
        case 0x6C: return third == 0x6C ? i + 3 : nil  // ll
        default: return nil
        }
    }

    private func contractionLetter(_ scalar: UInt32, ignoreCase: Bool) -> UInt32 {
        if ignoreCase { return folds[scalar] ?? 0 }
        return (0x61...0x7A).contains(scalar) ? scalar : 0
    }

    /// GPT-2: ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (contractions handled before).
    private func gpt2End(_ c: [UInt32], _ i: Int) -> Int {
        if c[i] == Self.space && i + 1 < c.count {
            let nextKind = kind(c[i + 1])
            if nextKind != .space { return runEnd(c, i + 1, nextKind) }
        }
        let first = kind(c[i])
        return first == .space ? whitespaceEnd(c, i) : runEnd(c, i, first)
    }

    /// Llama-3 (`maxDigits` 3) and Qwen2 (1): `[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (contractions handled before).
    private func llamaEnd(_ c: [UInt32], _ i: Int, maxDigits: Int) -> Int {
        let first = kind(c[i])
        let next = i + 1 < c.count ? kind(c[i + 1]) : nil
        if first != .letter && first != .number && !Self.isLineBreak(c[i]) && next == .letter {
            return runEnd(c, i + 1, .letter)
        }
        if first == .letter { return runEnd(c, i, .letter) }
        if first == .number {
            var end = i + 1
            while end < c.count && end - i < maxDigits && kind(c[end]) == .number { end += 1 }
            return end
        }
        let otherStart: Int? = c[i] == Self.space && next == .other ? i + 1 : (first == .other ? i : nil)
        if let start = otherStart {
            var end = runEnd(c, start, .other)
            while end < c.count && Self.isLineBreak(c[end]) { end += 1 }
            return end
        }
        // White space: `\s*[\r\n]+` ends after the run's last line break, if it has one.
        let end = runEnd(c, i, .space)
        if let lastBreak = (i..<end).last(where: { Self.isLineBreak(c[$0]) }) { return lastBreak + 1 }
        return whitespaceEnd(c, i)
    }

    /// `\s+(?!\S)|\s+`: a run of white space, less its last character when a non-space follows.
    private func whitespaceEnd(_ c: [UInt32], _ i: Int) -> Int {
        let end = runEnd(c, i, .space)
        return end == c.count || end - i == 1 ? end : end - 1
    }

    private func runEnd(_ c: [UInt32], _ start: Int, _ runKind: Kind) -> Int {
        var end = start
        while end < c.count && kind(c[end]) == runKind { end += 1 }
        return end
    }

    private func kind(_ scalar: UInt32) -> Kind {
        let bits = classes.bits(scalar)
        if bits & ClassBit.letter != 0 { return .letter }
        if bits & ClassBit.number != 0 { return .number }
        if bits & ClassBit.space != 0 { return .space }
        return .other
    }

    private static func isLineBreak(_ scalar: UInt32) -> Bool { scalar == 0x0A || scalar == 0x0D }

    /// BPE on the UTF-8 bytes of one pre-tokenized piece, exactly as `tokenizers`' `Word::merge_all`:
    /// a heap of candidate merges ordered by (rank, position), entries checked when popped.
    private func bpe(_ bytes: [UInt8], into out: inout [Int32]) {
        if bytes.isEmpty { return }
        if let id = encodeMap?[bytes] {
            out.append(id)
            return
        }
        // A byte without an id is dropped, as tokenizers does without an unknown token.
        var symbols = bytes.map { byteIds[Int($0)] }.filter { $0 >= 0 }
        let count = symbols.count
        if count == 0 { return }
        var next = (0..<count).map { $0 + 1 < count ? $0 + 1 : -1 }
        var prev = (0..<count).map { $0 - 1 }
        var removed = [Bool](repeating: false, count: count)
        var heap = MergeHeap()
        for i in 0..<(count - 1) { pushMerge(&heap, symbols[i], symbols[i + 1], i) }
        while let top = heap.pop() {
            let pos = top.position
            let right = next[pos]
            if removed[pos] || right == -1 || merge(symbols[pos], symbols[right])?.newId != top.newId { continue }
            symbols[pos] = top.newId
            removed[right] = true
            next[pos] = next[right]
            if next[pos] != -1 { prev[next[pos]] = pos }
            if prev[pos] >= 0 { pushMerge(&heap, symbols[prev[pos]], symbols[pos], prev[pos]) }
            if next[pos] != -1 { pushMerge(&heap, symbols[pos], symbols[next[pos]], pos) }
        }
        var i = 0
        while i != -1 {
            out.append(symbols[i])
            i = next[i]
        }
    }

    private func merge(_ left: Int32, _ right: Int32) -> (rank: UInt32, newId: Int32)? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        guard let value = merges[key] else { return nil }
        return (UInt32(value >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
    }

    private func pushMerge(_ heap: inout MergeHeap, _ left: Int32, _ right: Int32, _ position: Int) {
        if let found = merge(left, right) { heap.push(rank: found.rank, position: position, newId: found.newId) }
    }
}

// MARK: - Helpers

extension ByteLevelBPETokenizer {
    /// Finds added tokens as `AddedVocabulary::find_matches` in `tokenizers`: leftmost-longest matches,
    /// the search going on after each match; then each token's options (single word, strip left/right).
    fileprivate struct AddedTokenMatcher: Sendable {
        /// An added token (`id` >= 0) or the text between tokens (`id` -1), as scalar offsets.
        struct Piece {
            let id: Int32
            let start: Int
            let end: Int
        }

        /// Tokens by first scalar, longest first.
        private let byFirst: [UInt32: [AddedToken]]

        init(_ tokens: [AddedToken]) {
            let sorted = tokens.filter { !$0.scalars.isEmpty }.enumerated()
                .sorted { ($0.element.scalars.count, -$0.offset) > ($1.element.scalars.count, -$1.offset) }
                .map(\.element)
            byFirst = Dictionary(grouping: sorted) { $0.scalars[0] }
        }

        /// `text` cut into tokens and the non-empty text between them.
        func split(_ text: [UInt32], classes: UnicodeClasses) -> [Piece] {
            if text.isEmpty { return [] }
            if byFirst.isEmpty { return [Piece(id: -1, start: 0, end: text.count)] }
            var pieces: [Piece] = []
            var pieceStart = 0
            var position = 0
            while position < text.count {
                guard let token = byFirst[text[position]]?.first(where: { Self.matches(text, position, $0.scalars) })
                else {
                    position += 1
                    continue
                }
                var start = position
                var end = position + token.scalars.count
                position = end
                if token.singleWord
                    && (Self.isWord(text, start - 1, classes) || Self.isWord(text, end, classes))
                {
                    continue
                }
                if token.stripsLeft {
                    while start > 0 && classes.has(text[start - 1], ClassBit.strip) { start -= 1 }
                    start = max(start, pieceStart)
                }
                if token.stripsRight {
                    while end < text.count && classes.has(text[end], ClassBit.strip) { end += 1 }
                }
                if pieceStart < start { pieces.append(Piece(id: -1, start: pieceStart, end: start)) }
                pieces.append(Piece(id: token.id, start: start, end: end))
                pieceStart = end
            }
            if pieceStart < text.count { pieces.append(Piece(id: -1, start: pieceStart, end: text.count)) }
            return pieces
        }

        private static func matches(_ text: [UInt32], _ at: Int, _ pattern: [UInt32]) -> Bool {
            at + pattern.count <= text.count && text[at..<at + pattern.count].elementsEqual(pattern)
        }

        private static func isWord(_ text: [UInt32], _ index: Int, _ classes: UnicodeClasses) -> Bool {
            index >= 0 && index < text.count && classes.has(text[index], ClassBit.word)
        }
    }

    /// NFC as `tokenizers` runs it: decompose, order marks by combining class, compose (Unicode 9 tables).
    fileprivate struct NFC: Sendable {
        private static let hangulS: UInt32 = 0xAC00
        private static let hangulL: UInt32 = 0x1100
        private static let hangulV: UInt32 = 0x1161
        private static let hangulT: UInt32 = 0x11A7
        private static let hangulCount: UInt32 = 11172

        private let combiningClass: [UInt32: UInt32]
        private let decomposition: [UInt32: [UInt32]]
        private let composition: [UInt64: UInt32]
        private let quickLimit: UInt32  // below it nothing decomposes, combines or composes with what precedes

        init(classes: [UInt32], decompositions: [UInt32], compositions: [UInt32]) {
            var limit = min(UInt32(0x110000), Self.hangulL)
            var combiningClass: [UInt32: UInt32] = [:]
            for k in stride(from: 0, to: classes.count, by: 2) {
                combiningClass[classes[k]] = classes[k + 1]
                limit = min(limit, classes[k])
            }
            var decomposition: [UInt32: [UInt32]] = [:]
            var i = 0
            while i + 1 < decompositions.count {
                let length = Int(decompositions[i + 1])
                decomposition[decompositions[i]] = Array(decompositions[(i + 2)..<(i + 2 + length)])
                limit = min(limit, decompositions[i])
                i += 2 + length
            }
            var composition: [UInt64: UInt32] = [:]
            for k in stride(from: 0, to: compositions.count, by: 3) {
                composition[UInt64(compositions[k]) << 32 | UInt64(compositions[k + 1])] = compositions[k + 2]
                limit = min(limit, compositions[k + 1])
            }
            self.combiningClass = combiningClass
            self.decomposition = decomposition
            self.composition = composition
            quickLimit = limit
        }

        func normalize(_ text: [UInt32]) -> [UInt32] {
            if text.allSatisfy({ $0 < quickLimit }) { return text }
            var chars: [UInt32] = []
            for scalar in text { decompose(scalar, into: &chars) }
            for i in chars.indices.dropFirst() {  // stable insertion sort of each run of marks by class
                var j = i
                while j > 0 && classOf(chars[j]) != 0 && classOf(chars[j]) < classOf(chars[j - 1]) {
                    chars.swapAt(j, j - 1)
                    j -= 1
                }
            }
            return compose(chars)
        }

        private func classOf(_ scalar: UInt32) -> UInt32 { combiningClass[scalar] ?? 0 }

        private func decompose(_ scalar: UInt32, into out: inout [UInt32]) {
            if scalar >= Self.hangulS && scalar - Self.hangulS < Self.hangulCount {
                let index = scalar - Self.hangulS
                out.append(Self.hangulL + index / 588)
                out.append(Self.hangulV + index % 588 / 28)
                if index % 28 != 0 { out.append(Self.hangulT + index % 28) }
            } else if let parts = decomposition[scalar] {
                out += parts
            } else {
                out.append(scalar)
            }
        }

        /// The canonical composition algorithm: a mark joins the last starter unless a mark of its class or
        /// higher is between them.
        private func compose(_ chars: [UInt32]) -> [UInt32] {
            var out: [UInt32] = []
            var starter = -1
            var lastClass: UInt32 = 0
            for scalar in chars {
                let scalarClass = classOf(scalar)
                if starter >= 0 && (lastClass < scalarClass || (lastClass == 0 && out.count - 1 == starter)),
                    let composite = composePair(out[starter], scalar)
                {
                    out[starter] = composite
                    continue
                }
                if scalarClass == 0 { starter = out.count }
                lastClass = scalarClass
                out.append(scalar)
            }
            return out
        }

        private func composePair(_ first: UInt32, _ second: UInt32) -> UInt32? {
            let isLeading = (Self.hangulL..<Self.hangulL + 19).contains(first)
            if isLeading && (Self.hangulV..<Self.hangulV + 21).contains(second) {
                return Self.hangulS + ((first - Self.hangulL) * 21 + second - Self.hangulV) * 28
            }
            if first >= Self.hangulS && first - Self.hangulS < Self.hangulCount && (first - Self.hangulS) % 28 == 0
                && (Self.hangulT + 1..<Self.hangulT + 28).contains(second)
            {
                return first + second - Self.hangulT
            }
            return composition[UInt64(first) << 32 | UInt64(second)]
        }
    }

    /// Class bits of every scalar, from runs (start, bits) sorted by start and covering 0...10FFFF.
    fileprivate struct UnicodeClasses: Sendable {
        private let starts: [UInt32]
        private let values: [UInt8]
        private let bmp: [UInt8]  // the Basic Multilingual Plane looked up directly

        init(runs: [UInt32]) throws {
            starts = stride(from: 0, to: runs.count, by: 2).map { runs[$0] }
            values = stride(from: 1, to: runs.count, by: 2).map { UInt8(truncatingIfNeeded: runs[$0]) }
            guard starts.first == 0 else { throw AssetError.malformed("the Unicode class table must start at 0") }
            var bmp = [UInt8](repeating: 0, count: 0x10000)
            var run = 0
            for scalar in 0..<0x10000 {
                while run + 1 < starts.count && starts[run + 1] <= UInt32(scalar) { run += 1 }
                bmp[scalar] = values[run]
            }
            self.bmp = bmp
        }

        func bits(_ scalar: UInt32) -> UInt8 {
            if scalar < 0x10000 { return bmp[Int(scalar)] }
            var low = 0
            var high = starts.count - 1
            while low < high {  // the last run starting at or before the scalar
                let mid = (low + high + 1) / 2
                if starts[mid] <= scalar { low = mid } else { high = mid - 1 }
            }
            return values[low]
        }

        func has(_ scalar: UInt32, _ bit: UInt8) -> Bool { bits(scalar) & bit != 0 }
    }

    /// A min-heap of merges ordered by (rank, position), carrying the merged id.
    fileprivate struct MergeHeap {
        private var keys: [UInt64] = []
        private var newIds: [Int32] = []

        mutating func push(rank: UInt32, position: Int, newId: Int32) {
            let key = UInt64(rank) << 32 | UInt64(position)
            keys.append(key)
            newIds.append(newId)
            var i = keys.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if keys[parent] <= key { break }
                keys.swapAt(i, parent)
                newIds.swapAt(i, parent)
                i = parent
            }
        }

        mutating func pop() -> (position: Int, newId: Int32)? {
            guard let topKey = keys.first, let topId = newIds.first else { return nil }
            let lastKey = keys.removeLast()
            let lastId = newIds.removeLast()
            if !keys.isEmpty {
                keys[0] = lastKey
                newIds[0] = lastId
                siftDown()
            }
            return (Int(topKey & 0xFFFF_FFFF), topId)
        }

        private mutating func siftDown() {
            var i = 0
            while true {
                var child = 2 * i + 1
                if child >= keys.count { return }
                if child + 1 < keys.count && keys[child + 1] < keys[child] { child += 1 }
                if keys[child] >= keys[i] { return }
                keys.swapAt(i, child)
                newIds.swapAt(i, child)
                i = child
            }
        }
    }

    /// Little-endian u32 fields of the asset.
    fileprivate struct AssetReader {
        let bytes: [UInt8]
        private var offset = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { offset == bytes.count }

        mutating func requireMagic(_ magic: String) throws {
            let expected = Array(magic.utf8)
            guard bytes.count >= expected.count, Array(bytes[0..<expected.count]) == expected else {
                throw AssetError.notAnAsset
            }
            offset = expected.count
        }

        mutating func u32() throws -> UInt32 {
            guard bytes.count - offset >= 4 else { throw AssetError.malformed("truncated") }
            defer { offset += 4 }
            return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                | UInt32(bytes[offset + 3]) << 24
        }

        /// A count, checked against what is left so a corrupt asset fails cleanly.
        mutating func count() throws -> Int {
            let count = Int(try u32())
            guard count <= bytes.count - offset else { throw AssetError.malformed("count \(count)") }
            return count
        }

        mutating func u32s(_ count: Int) throws -> [UInt32] {
            guard count * 4 <= bytes.count - offset else { throw AssetError.malformed("truncated") }
            var values: [UInt32] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try u32()) }
            return values
        }

        /// A count n, then n groups of `width` u32 values.
        mutating func list(_ width: Int) throws -> [UInt32] {
            let count = try count()
            return try u32s(width * count)
        }

        mutating func blob() throws -> [UInt8] {
            let count = try count()
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }
    }
}

/// UTF-8 both ways, decoding invalid bytes exactly as Rust's `String::from_utf8_lossy`.
private enum UTF8Lossy {
    static func encode(_ scalars: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(scalars.count)
        for scalar in scalars {
            switch scalar {
            case ..<0x80:
                out.append(UInt8(scalar))
            case ..<0x800:
                out += [UInt8(0xC0 | scalar >> 6), UInt8(0x80 | scalar & 0x3F)]
            case ..<0x10000:
                out += [UInt8(0xE0 | scalar >> 12), UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)]
            default:
                out += [
                    UInt8(0xF0 | scalar >> 18), UInt8(0x80 | scalar >> 12 & 0x3F), UInt8(0x80 | scalar >> 6 & 0x3F),
                    UInt8(0x80 | scalar & 0x3F),
                ]
            }
        }
        return out
    }

    /// Appends the text of `bytes` to `out`, one U+FFFD per maximal invalid subpart (the Unicode "best
    /// practice" Rust follows). Returns how many bytes were used: all of them when `final`, else it stops
    /// before a character that the next bytes may still complete.
    static func decode(_ bytes: [UInt8], final: Bool, into out: inout String.UnicodeScalarView) -> Int {
        let replacement: Unicode.Scalar = "\u{FFFD}"
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            if lead < 0x80 {
                out.append(Unicode.Scalar(lead))
                i += 1
                continue
            }
            let need = continuationCount(lead)
            if need == 0 {
                out.append(replacement)
                i += 1
                continue
            }
            var value = UInt32(lead) & (0x3F >> UInt32(need))
            var j = i + 1
            while j <= i + need && j < bytes.count && isContinuation(lead, j - i, bytes[j]) {
                value = value << 6 | UInt32(bytes[j] & 0x3F)
                j += 1
            }
            if j == i + need + 1, let scalar = Unicode.Scalar(value) {
                out.append(scalar)
            } else if j == bytes.count && !final {
                return i  // unfinished: wait for more bytes
            } else {
                out.append(replacement)
            }
            i = j
        }
        return bytes.count
    }

    /// How many continuation bytes follow `lead`; 0 for a byte that cannot start a character.
    private static func continuationCount(_ lead: UInt8) -> Int {
        switch lead {
        case 0xC2...0xDF: return 1
        case 0xE0...0xEF: return 2
        case 0xF0...0xF4: return 3
        default: return 0
        }
    }

    /// Whether `byte` may be continuation byte number `index` (1-based) after `lead` (Unicode Table 3-7).
    private static func isContinuation(_ lead: UInt8, _ index: Int, _ byte: UInt8) -> Bool {
        if index == 1 {
            switch lead {
            case 0xE0: return (0xA0...0xBF).contains(byte)
            case 0xED: return (0x80...0x9F).contains(byte)
            case 0xF0: return (0x90...0xBF).contains(byte)
            case 0xF4: return (0x80...0x8F).contains(byte)
            default: break
            }
        }
        return (0x80...0xBF).contains(byte)
    }
}
