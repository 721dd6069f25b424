import SmolChatKit
import SwiftUI

struct ChatView: View {
    @State private var chat = ChatModel()

    var body: some View {
        NavigationStack {
            ScrollView {
                LazyVStack(spacing: 8) {
                    ForEach(Array(chat.messages.enumerated()), id: \.offset) { _, message in
                        MessageBubble(message: message)
                    }
                }
                .padding()
            }
            // Stays at the bottom while the newest reply grows.
            .defaultScrollAnchor(.bottom)
            .overlay {
                if !chat.isReady && chat.error == nil {
                    ProgressView("Loading the model…")
                }
            }
            .safeAreaInset(edge: .bottom) { composer }
            .navigationTitle("Smol chat")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                Button("New chat") { Task { await chat.newChat() } }
                    .disabled(!chat.isReady)
            }
        }
        .task { await chat.load() }
    }

    private var composer: some View {
        VStack(alignment: .leading, spacing: 8) {
            if let error = chat.error {
                HStack {
                    Text(error)
                        .font(.footnote)
                        .foregroundStyle(.red)
                    Spacer()
                    if chat.isReady {
                        Button("New chat") { Task { await chat.newChat() } }
                    }
                }
            }
            HStack(alignment: .bottom) {
                TextField("Message", text: $chat.draft, axis: .vertical)
                    .lineLimit(1...5)
                    .textFieldStyle(.roundedBorder)
                Group {
                    if chat.isGenerating {
                        Button("Stop", systemImage: "stop.circle.fill", action: chat.stop)
                    } else {
                        Button("Send", systemImage: "arrow.up.circle.fill", action: chat.send)
                            .disabled(!chat.isReady || chat.draft.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
                    }
                }
                .labelStyle(.iconOnly)
                .font(.title2)
            }
        }
        .padding()
        .background(.bar)
    }
}

private struct MessageBubble: View {
    let message: ChatMessage

    var body: some View {
        let fromUser = message.role == .user
        Text(message.content.isEmpty ? "…" : message.content)
            .textSelection(.enabled)
            .padding(.horizontal, 12)
            .padding(.vertical, 8)
            .foregroundStyle(fromUser ? Color.white : Color.primary)
            .background(fromUser ? Color.accentColor : Color(.secondarySystemBackground), in: .rect(cornerRadius: 16))
            .frame(maxWidth: .infinity, alignment: fromUser ? .trailing : .leading)
            .padding(fromUser ? Edge.Set.leading : Edge.Set.trailing, 48)
    }
}
