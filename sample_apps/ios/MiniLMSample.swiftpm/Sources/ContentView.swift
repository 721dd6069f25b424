import MiniLMKit
import SwiftUI

struct ContentView: View {
    @StateObject private var model = SimilarityModel()

    var body: some View {
        NavigationStack {
            Form {
                Section("Sentences") {
                    TextField("First sentence", text: $model.first, axis: .vertical)
                    TextField("Second sentence", text: $model.second, axis: .vertical)
                }
                Section("Compute units") {
                    Picker("Core ML may use", selection: $model.computeUnits) {
                        Text("All").tag(MiniLMEmbeddingsEmbedder.ComputeUnits.all)
                        Text("CPU only").tag(MiniLMEmbeddingsEmbedder.ComputeUnits.cpuOnly)
                        Text("CPU + GPU").tag(MiniLMEmbeddingsEmbedder.ComputeUnits.cpuAndGPU)
                        Text("CPU + Neural Engine").tag(MiniLMEmbeddingsEmbedder.ComputeUnits.cpuAndNeuralEngine)
                    }
                    .onChange(of: model.computeUnits) { _ in
                        Task { await model.load() }
                    }
                }
                Section("Cosine similarity") {
                    Button("Compare") {
                        Task { await model.compare() }
                    }
                    if let similarity = model.similarity {
                        Text(String(format: "%.4f", similarity))
                            .font(.system(.largeTitle, design: .monospaced))
                    }
                    Text(model.status)
                        .font(.footnote)
                        .foregroundStyle(.secondary)
                }
            }
            .navigationTitle("MiniLM on device")
        }
        .task { await model.load() }
    }
}
