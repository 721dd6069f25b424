import Foundation
import MiniLMKit

/// Loads the embedder once and compares two sentences with it.
@MainActor
final class SimilarityModel: ObservableObject {
    @Published var first = "A man is eating food."
    @Published var second = "Someone is having a meal."
    @Published private(set) var similarity: Float?
    @Published private(set) var status = "Loading the model…"
    @Published var computeUnits: MiniLMEmbeddingsEmbedder.ComputeUnits = .all

    private var embedder: MiniLMEmbeddingsEmbedder?

    func load() async {
        embedder = nil
        similarity = nil
        status = "Loading the model…"
        let started = Date()
        do {
            embedder = try await MiniLMEmbeddingsEmbedder(configuration: .init(computeUnits: computeUnits))
            status = String(format: "Model ready in %.0f ms", Date().timeIntervalSince(started) * 1000)
        } catch {
            status = "\(error)"
        }
    }

    func compare() async {
        guard let embedder else {
            return
        }
        let started = Date()
        do {
            let a = try await embedder.embed(first)
            let b = try await embedder.embed(second)
            similarity = MiniLMEmbeddingsEmbedder.cosineSimilarity(a, b)
            status = String(format: "2 embeddings (%d values) in %.0f ms", a.count, Date().timeIntervalSince(started) * 1000)
        } catch {
            status = "\(error)"
        }
    }
}
