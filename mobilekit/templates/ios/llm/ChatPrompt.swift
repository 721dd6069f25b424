// mobilekit LLM runtime: the model's chat template, rendered without a Jinja engine. A real Swift
// file, copied as is into each generated package.
//
// Convention: the model-specific values live in a small generated file next to this one,
//
//     enum GeneratedChatShape {
//         static let shape = ChatShape(kind: .chatml, bos: "", defaultSystem: "...", qwen3Thinking: false)
//     }
//
// written by mobilekit.llm.chat_template.swift_shape_enum from the shape it recognised in the
// model's template; this file never changes per model. The rules mirror
// mobilekit/llm/chat_template.py, and goldens rendered by transformers' apply_chat_template prove
// the output equal byte for byte. Text is handled as Unicode scalars, never as Characters, so
// "</think>" followed by a combining mark is found where Python finds it.

public enum ChatRole: String, Sendable {
    case system
    case user
    case assistant
}

public struct ChatMessage: Sendable, Equatable {
    public let role: ChatRole
    public let content: String

    public init(role: ChatRole, content: String) {
        self.role = role
        self.content = content
    }
}

/// The shape of a model's chat template (see mobilekit/llm/chat_template.py).
public struct ChatShape: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case chatml
        case gemma
    }

    public let kind: Kind
    /// Text in front of the first turn (Gemma's bos token).
    public let bos: String
    /// ChatML: the system prompt the template adds when the first message is not a system one.
    public let defaultSystem: String?
    /// ChatML: Qwen3's rules for `<think>` blocks in assistant messages.
    public let qwen3Thinking: Bool

    public init(kind: Kind, bos: String, defaultSystem: String?, qwen3Thinking: Bool) {
        self.kind = kind
        self.bos = bos
        self.defaultSystem = defaultSystem
        self.qwen3Thinking = qwen3Thinking
    }

    /// The text that closes a turn: generation should stop there.
    public var endOfTurn: String { kind == .chatml ? "<|im_end|>" : "<end_of_turn>" }
}

/// A conversation the template cannot render (empty, or roles out of the order it requires).
public enum ChatTemplateError: Error, Equatable, Sendable {
    case emptyConversation
    case rolesMustAlternate
}

public enum ChatPrompt {
    /// The prompt text for `messages`, equal to transformers' apply_chat_template(tokenize=False).
    /// `enableThinking` matters to Qwen3 only: false adds an empty think block to the generation prompt.
    public static func render(
        shape: ChatShape, messages: [ChatMessage], addGenerationPrompt: Bool = true, enableThinking: Bool? = nil
    ) throws -> String {
        guard let first = messages.first else { throw ChatTemplateError.emptyConversation }
        var out = shape.bos
        switch shape.kind {
        case .chatml:
            if first.role != .system, let system = shape.defaultSystem { out += chatmlTurn("system", system) }
            out += chatml(shape, messages)
            if addGenerationPrompt {
                out += "<|im_start|>assistant\n"
                if shape.qwen3Thinking && enableThinking == false { out += "<think>\n\n</think>\n\n" }
            }
        case .gemma:
            out += try gemma(messages)
            if addGenerationPrompt { out += "<start_of_turn>model\n" }
        }
        return out
    }

    private static func chatmlTurn(_ role: String, _ content: String) -> String {
        "<|im_start|>" + role + "\n" + content + "<|im_end|>\n"
    }

    private static func chatml(_ shape: ChatShape, _ messages: [ChatMessage]) -> String {
        let lastQuery = qwen3LastQuery(messages)
        var out = ""
        for (index, message) in messages.enumerated() {
            if message.role == .assistant && shape.qwen3Thinking {
                let body = qwen3Assistant(
                    message.content, afterQuery: index > lastQuery, last: index == messages.count - 1)
                out += chatmlTurn("assistant", body)
            } else {
                out += chatmlTurn(message.role.rawValue, message.content)
            }
        }
        return out
    }

    /// The last user message that is not a tool response: Qwen3 keeps reasoning after it.
    private static func qwen3LastQuery(_ messages: [ChatMessage]) -> Int {
        for index in messages.indices.reversed() where messages[index].role == .user {
            let content = Scalars(messages[index].content)
            if !(content.hasPrefix("<tool_response>") && content.hasSuffix("</tool_response>")) { return index }
        }
        return messages.count - 1
    }

    // Python's str.split(sep)[-1] is after(last:), split(sep)[0] is before(first:).
    private static func qwen3Assistant(_ whole: String, afterQuery: Bool, last: Bool) -> String {
        let text = Scalars(whole)
        var content = text
        var reasoning = Scalars("")
        if text.contains("</think>") {
            content = text.after(last: "</think>").trimming("\n", leading: true, trailing: false)
            reasoning = text.before(first: "</think>").trimming("\n", leading: false, trailing: true)
                .after(last: "<think>").trimming("\n", leading: true, trailing: false)
        }
        if afterQuery && (last || !reasoning.isEmpty) {
            return "<think>\n" + reasoning.trimming("\n", leading: true, trailing: true).string + "\n</think>\n\n"
                + content.trimming("\n", leading: true, trailing: false).string
        }
        return content.string
    }

    private static func gemma(_ messages: [ChatMessage]) throws -> String {
        let hasSystem = messages[0].role == .system
        let prefix = hasSystem ? messages[0].content + "\n\n" : ""
        var out = ""
        for (index, message) in messages.dropFirst(hasSystem ? 1 : 0).enumerated() {
            guard (message.role == .user) == (index % 2 == 0) else { throw ChatTemplateError.rolesMustAlternate }
            let role = message.role == .assistant ? "model" : message.role.rawValue
            out += "<start_of_turn>" + role + "\n" + (index == 0 ? prefix : "")
            out += Scalars(message.content).pythonStripped().string + "<end_of_turn>\n"
        }
        return out
    }
}

/// A string as Unicode scalars, with the few Python str operations the templates use.
struct Scalars {
    var scalars: [Unicode.Scalar]

    init(_ text: String) { scalars = Array(text.unicodeScalars) }
    init(_ scalars: ArraySlice<Unicode.Scalar>) { self.scalars = Array(scalars) }

    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    var isEmpty: Bool { scalars.isEmpty }

    func hasPrefix(_ prefix: String) -> Bool { scalars.starts(with: prefix.unicodeScalars) }

    func hasSuffix(_ suffix: String) -> Bool { scalars.reversed().starts(with: suffix.unicodeScalars.reversed()) }

    func contains(_ needle: String) -> Bool { firstIndex(of: Array(needle.unicodeScalars)) != nil }

    /// Text before the first `separator` (all of it when there is none).
    func before(first separator: String) -> Scalars {
        guard let at = firstIndex(of: Array(separator.unicodeScalars)) else { return self }
        return Scalars(scalars[..<at])
    }

    /// Text after the last `separator` (all of it when there is none).
    func after(last separator: String) -> Scalars {
        let needle = Array(separator.unicodeScalars)
        guard scalars.count >= needle.count else { return self }
        for at in stride(from: scalars.count - needle.count, through: 0, by: -1)
        where scalars[at..<(at + needle.count)].elementsEqual(needle) {
            return Scalars(scalars[(at + needle.count)...])
        }
        return self
    }

    private func firstIndex(of needle: [Unicode.Scalar]) -> Int? {
        guard scalars.count >= needle.count else { return nil }
        for at in 0...(scalars.count - needle.count) where scalars[at..<(at + needle.count)].elementsEqual(needle) {
            return at
        }
        return nil
    }

    /// Python's lstrip/rstrip/strip with one character.
    func trimming(_ character: Unicode.Scalar, leading: Bool, trailing: Bool) -> Scalars {
        var start = 0
        var end = scalars.count
        while leading && start < end && scalars[start] == character { start += 1 }
        while trailing && end > start && scalars[end - 1] == character { end -= 1 }
        return Scalars(scalars[start..<end])
    }

    /// Jinja's trim filter is Python's str.strip(): exactly these code points.
    func pythonStripped() -> Scalars {
        var start = 0
        var end = scalars.count
        while start < end && Self.isPythonWhitespace(scalars[start]) { start += 1 }
        while end > start && Self.isPythonWhitespace(scalars[end - 1]) { end -= 1 }
        return Scalars(scalars[start..<end])
    }

    static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
