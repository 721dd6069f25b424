// Part of mobilekit's Swift runtime: copied into every encoder package as it is.

import Foundation

/// BERT WordPiece tokenization with exactly the behaviour of Hugging Face's `BertTokenizerFast`
/// (the `tokenizers` library: `BertNormalizer`, `BertPreTokenizer`, `WordPiece` and the BERT
/// post-processor), so the model sees on device the ids it saw in Python.
///
/// Text is handled as Unicode scalars, never as `Character`s: a grapheme cluster can join a letter
/// with the accent the normalizer must drop, and `String` comparison treats canonically equivalent
/// strings as equal, while the vocabulary is matched scalar by scalar. Which scalars are controls,
/// whitespace, punctuation, accents or CJK comes from `BertUnicode` (measured from `tokenizers`).
///
/// Special and added tokens typed in the text (`"[CLS] hi [SEP]"`) are matched first and become their
/// own ids, as in Python: see `AddedToken`.
public struct WordPieceTokenizer: Sendable {
    /// A token that is split out of the text before WordPiece runs, as `tokenizers` does with the
    /// `added_tokens` of `tokenizer.json`: the special tokens (`[CLS]`, `[SEP]`, `[MASK]`...) and any
    /// token added to the tokenizer. Where several start at the same place, the longest wins.
    public struct AddedToken: Sendable, Equatable {
        /// The text matched, exactly (scalar by scalar).
        public var content: String
        /// The id the match becomes.
        public var id: Int32
        /// Matches only where no word character (letter, digit, mark, `_`) touches it.
        public var singleWord: Bool
        /// The match takes the white space before it along (it is dropped).
        public var stripsLeft: Bool
        /// The match takes the white space after it along (it is dropped).
        public var stripsRight: Bool
        /// Matched in the normalized text (lower-cased, accents stripped...) against the normalized
        /// content, instead of in the text as typed. Special tokens are not normalized: `[sep]`
        /// is not `[SEP]` for an uncased model either.
        public var normalized: Bool

        public init(
            _ content: String,
            id: Int32,
            singleWord: Bool = false,
            stripsLeft: Bool = false,
            stripsRight: Bool = false,
            normalized: Bool = false
        ) {
            self.content = content
            self.id = id
            self.singleWord = singleWord
            self.stripsLeft = stripsLeft
            self.stripsRight = stripsRight
            self.normalized = normalized
        }
    }

    /// The model's tokenizer settings (from its `tokenizer_config.json` and `tokenizer.json`).
    public struct Settings: Sendable, Equatable {
        public var lowercase: Bool
        public var stripAccents: Bool
        public var tokenizeChineseCharacters: Bool
        public var unknownToken: String
        public var classifierToken: String
        public var separatorToken: String
        public var paddingToken: String
        public var maxInputCharactersPerWord: Int
        /// Tokens matched in the text before anything else, in priority order (for equally long
        /// matches at the same place): none by default.
        public var addedTokens: [AddedToken]

        public init(
            lowercase: Bool,
            stripAccents: Bool,
            tokenizeChineseCharacters: Bool,
            unknownToken: String = "[UNK]",
            classifierToken: String = "[CLS]",
            separatorToken: String = "[SEP]",
            paddingToken: String = "[PAD]",
            maxInputCharactersPerWord: Int = 100,
            addedTokens: [AddedToken] = []
        ) {
            self.lowercase = lowercase
            self.stripAccents = stripAccents
            self.tokenizeChineseCharacters = tokenizeChineseCharacters
            self.unknownToken = unknownToken
            self.classifierToken = classifierToken
            self.separatorToken = separatorToken
            self.paddingToken = paddingToken
            self.maxInputCharactersPerWord = maxInputCharactersPerWord
            self.addedTokens = addedTokens
        }
    }

    /// The three model inputs for one text, each exactly `maxLength` long.
    public struct Encoding: Sendable, Equatable {
        public var inputIds: [Int32]
        public var attentionMask: [Int32]
        public var tokenTypeIds: [Int32]
    }

    /// Why a vocabulary cannot be used.
    public enum VocabularyError: Error, Equatable, Sendable, CustomStringConvertible {
        case missingSpecialToken(String)
        case tooLarge(count: Int)

        public var description: String {
            switch self {
            case .missingSpecialToken(let token):
                return "the vocabulary has no \(token) token, which the tokenizer settings require"
            case .tooLarge(let count):
                return "the vocabulary has \(count) tokens; ids must fit in Int32"
            }
        }
    }

    public let settings: Settings
    private let ids: [[Unicode.Scalar]: Int32]
    private let unknownId: Int32
    private let classifierId: Int32
    private let separatorId: Int32
    private let paddingId: Int32
    /// Added tokens matched in the text as typed, and in the normalized text.
    private let rawTokens: AddedTokenMatcher
    private let normalizedTokens: AddedTokenMatcher
    private static let continuingSubwordPrefix: [Unicode.Scalar] = ["#", "#"]

    /// - Parameter vocabulary: the tokens in id order (line `i` of `vocab.txt` is id `i`).
    public init(vocabulary: [String], settings: Settings) throws {
        guard vocabulary.count <= Int(Int32.max) else {
            throw VocabularyError.tooLarge(count: vocabulary.count)
        }
        var ids: [[Unicode.Scalar]: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        for (index, token) in vocabulary.enumerated() {
            // A token listed twice keeps its last id, as `tokenizers` does when it reads vocab.txt.
            ids[Array(token.unicodeScalars)] = Int32(index)
        }
        func id(of token: String) throws -> Int32 {
            guard let id = ids[Array(token.unicodeScalars)] else {
                throw VocabularyError.missingSpecialToken(token)
            }
            return id
        }
        self.settings = settings
        self.ids = ids
        unknownId = try id(of: settings.unknownToken)
        classifierId = try id(of: settings.classifierToken)
        separatorId = try id(of: settings.separatorToken)
        paddingId = try id(of: settings.paddingToken)
        rawTokens = AddedTokenMatcher(settings.addedTokens.filter { !$0.normalized }) {
            Array($0.content.unicodeScalars)
        }
        normalizedTokens = AddedTokenMatcher(settings.addedTokens.filter(\.normalized)) {
            Self.normalize($0.content.unicodeScalars, settings: settings)
        }
    }

    /// Reads a `vocab.txt`: one token per line, lines separated by "\n" only.
    public static func vocabulary(from text: String) -> [String] {
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            .map { String(String.UnicodeScalarView($0)) }
        if lines.last == "" {
            lines.removeLast()
        }
        return lines
    }

    /// `[CLS] tokens [SEP]`, truncated to `maxLength` and padded with `[PAD]` up to it.
    public func encode(_ text: String, maxLength: Int) -> Encoding {
        precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP]")
        let tokens = tokenIds(text).prefix(maxLength - 2)
        var inputIds = [classifierId]
        inputIds.append(contentsOf: tokens)
        inputIds.append(separatorId)
        let used = inputIds.count
        inputIds.append(contentsOf: repeatElement(paddingId, count: maxLength - used))
        let attentionMask = [Int32](repeating: 1, count: used) + [Int32](repeating: 0, count: maxLength - used)
        return Encoding(
            inputIds: inputIds,
            attentionMask: attentionMask,
            tokenTypeIds: [Int32](repeating: 0, count: maxLength)
        )
    }

    /// The ids of `text`: WordPiece ids, and the ids of the added tokens typed in it; no `[CLS]` or
    /// `[SEP]` around them.
    public func tokenIds(_ text: String) -> [Int32] {
        var result: [Int32] = []
        for piece in pieces(text) {
            switch piece {
            case .added(let token):
                result.append(token.id)
            case .word(let word):
                result.append(contentsOf: wordPieces(word))
            }
        }
        return result
    }

    /// The tokens of `text` as strings (for debugging and display).
    public func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        for piece in pieces(text) {
            switch piece {
            case .added(let token):
                tokens.append(token.content)
            case .word(let word):
                tokens.append(contentsOf: wordPieceTokens(word))
            }
        }
        return tokens
    }

    /// What WordPiece sees: added tokens, and the words between them.
    private enum Piece {
        case added(AddedToken)
        case word([Unicode.Scalar])
    }

    /// The pipeline of `tokenizers`: added tokens are split out of the raw text first; each piece
    /// between them is normalized on its own, then split around the normalized added tokens, and
    /// what is left is split into words.
    private func pieces(_ text: String) -> [Piece] {
        var pieces: [Piece] = []
        let scalars = Array(text.unicodeScalars)
        for (rawToken, rawRange) in rawTokens.split(scalars) {
            if let token = rawToken {
                pieces.append(.added(token))
                continue
            }
            let normalized = normalize(scalars[rawRange])
            for (token, range) in normalizedTokens.split(normalized) {
                if let token {
                    pieces.append(.added(token))
                } else {
                    pieces.append(contentsOf: words(normalized[range]).map(Piece.word))
                }
            }
        }
        return pieces
    }

    // MARK: - BertNormalizer

    /// clean_text, handle_chinese_chars, strip_accents (NFD, then drop nonspacing marks), lowercase:
    /// in this order, as `tokenizers` applies them.
    func normalize<Scalars: Sequence>(_ text: Scalars) -> [Unicode.Scalar] where Scalars.Element == Unicode.Scalar {
        Self.normalize(text, settings: settings)
    }

    private static func normalize<Scalars: Sequence>(
        _ text: Scalars,
        settings: Settings
    ) -> [Unicode.Scalar] where Scalars.Element == Unicode.Scalar {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.underestimatedCount)
        for scalar in text {
            if BertUnicode.isRemoved(scalar) {
                continue
            }
            let cleaned: Unicode.Scalar = BertUnicode.isWhitespace(scalar) ? " " : scalar
            if settings.tokenizeChineseCharacters && BertUnicode.isChinese(cleaned) {
                scalars.append(" ")
                scalars.append(cleaned)
                scalars.append(" ")
            } else {
                scalars.append(cleaned)
            }
        }
        if settings.stripAccents {
            let decomposed = String(String.UnicodeScalarView(scalars)).decomposedStringWithCanonicalMapping
            scalars = decomposed.unicodeScalars.filter { !BertUnicode.isNonspacingMark($0) }
        }
        if settings.lowercase {
            // Scalar by scalar, without context (no final-sigma rule), like Rust's char::to_lowercase.
            scalars = scalars.flatMap { $0.properties.lowercaseMapping.unicodeScalars }
        }
        return scalars
    }

    // MARK: - BertPreTokenizer

    /// Splits on whitespace (dropped) and punctuation (each one its own word).
    func words<Scalars: Sequence>(_ scalars: Scalars) -> [[Unicode.Scalar]] where Scalars.Element == Unicode.Scalar {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in scalars {
            if scalar == " " || BertUnicode.isWhitespace(scalar) {
                if !current.isEmpty {
                    words.append(current)
                    current = []
                }
            } else if BertUnicode.isPunctuation(scalar) {
                if !current.isEmpty {
                    words.append(current)
                    current = []
                }
                words.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty {
            words.append(current)
        }
        return words
    }

    // MARK: - WordPiece

    /// Greedy longest-match-first; a word with any unmatched rest, or longer than
    /// `maxInputCharactersPerWord` scalars, becomes a single `[UNK]`.
    func wordPieces(_ word: [Unicode.Scalar]) -> [Int32] {
        wordPieceMatches(word).map { $0?.id ?? unknownId }
    }

    private func wordPieceTokens(_ word: [Unicode.Scalar]) -> [String] {
        wordPieceMatches(word).map { match in
            match.map { String(String.UnicodeScalarView($0.piece)) } ?? settings.unknownToken
        }
    }

    /// The pieces of `word` with their ids, or `[nil]` when the word is unknown.
    private func wordPieceMatches(_ word: [Unicode.Scalar]) -> [(piece: [Unicode.Scalar], id: Int32)?] {
        if word.count > settings.maxInputCharactersPerWord {
            return [nil]
        }
        var pieces: [(piece: [Unicode.Scalar], id: Int32)?] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: (piece: [Unicode.Scalar], id: Int32)?
            while start < end {
                var candidate = start > 0 ? Self.continuingSubwordPrefix : []
                candidate.append(contentsOf: word[start..<end])
                if let id = ids[candidate] {
                    found = (candidate, id)
                    break
                }
                end -= 1
            }
            guard let match = found else {
                return [nil]
            }
            pieces.append(match)
            start = end
        }
        return pieces
    }
}

/// Finds added tokens in a text exactly as `AddedVocabulary::find_matches` does in `tokenizers`:
/// leftmost-longest matches that do not overlap, then each token's options (single word, strip left
/// or right) applied to the match.
struct AddedTokenMatcher: Sendable {
    typealias Token = WordPieceTokenizer.AddedToken
    private typealias Candidate = (pattern: [Unicode.Scalar], token: Token)

    /// The candidates by their first scalar, longest first (in the given order among equals).
    private let candidates: [Unicode.Scalar: [Candidate]]

    /// - Parameter pattern: what to look for in the text for each token (its content, or the
    ///   content normalized); tokens with an empty pattern are never matched.
    init(
        _ tokens: [Token],
        pattern: (Token) -> [Unicode.Scalar]
    ) {
        // Dictionary(grouping:) keeps this order within each group.
        let ordered = tokens.map { (pattern: pattern($0), token: $0) }.enumerated()
            .filter { !$0.element.pattern.isEmpty }
            .sorted { first, second in
                let (firstLength, secondLength) = (first.element.pattern.count, second.element.pattern.count)
                return firstLength != secondLength ? firstLength > secondLength : first.offset < second.offset
            }
            .map(\.element)
        candidates = Dictionary(grouping: ordered) { $0.pattern[0] }
    }

    /// `text` cut into consecutive pieces covering it, each an added token (with the range it takes,
    /// stripped white space included) or text between tokens (`nil`).
    func split(_ text: [Unicode.Scalar]) -> [(token: Token?, range: Range<Int>)] {
        guard !candidates.isEmpty else {
            return [(nil, 0..<text.count)]
        }
        var pieces: [(token: Token?, range: Range<Int>)] = []
        var searchStart = 0
        var pieceStart = 0
        while let found = firstMatch(in: text, from: searchStart) {
            let token = found.token
            searchStart = found.range.upperBound
            var start = found.range.lowerBound
            var end = found.range.upperBound
            if token.singleWord {
                let joinsWordBefore = start > 0 && Self.isWordCharacter(text[start - 1])
                let joinsWordAfter = end < text.count && Self.isWordCharacter(text[end])
                if joinsWordBefore || joinsWordAfter {
                    continue
                }
            }
            if token.stripsLeft {
                while start > 0 && text[start - 1].properties.isWhitespace {
                    start -= 1
                }
                // White space a previous match already took stays with it.
                start = min(max(start, pieceStart), end)
            }
            if token.stripsRight {
                while end < text.count && text[end].properties.isWhitespace {
                    end += 1
                }
            }
            if pieceStart < start {
                pieces.append((nil, pieceStart..<start))
            }
            pieces.append((token, start..<end))
            pieceStart = end
        }
        if pieceStart < text.count {
            pieces.append((nil, pieceStart..<text.count))
        }
        return pieces
    }

    /// The leftmost match at or after `start`; of those starting there, the longest.
    private func firstMatch(
        in text: [Unicode.Scalar],
        from start: Int
    ) -> (token: Token, range: Range<Int>)? {
        for position in start..<text.count {
            for candidate in candidates[text[position]] ?? [] {
                let end = position + candidate.pattern.count
                if end <= text.count && text[position..<end].elementsEqual(candidate.pattern) {
                    return (candidate.token, position..<end)
                }
            }
        }
        return nil
    }

    /// `\w` of Rust's `regex` crate, which `tokenizers` uses for single-word tokens: alphabetic,
    /// marks, decimal digits, connector punctuation and joiners.
    private static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            return true
        default:
            return properties.isAlphabetic || properties.isJoinControl
        }
    }
}
