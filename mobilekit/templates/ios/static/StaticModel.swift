import Foundation

/// A static student (`static_model.bin`, written by mobilekit's distill stage): one vector per
/// vocabulary token, averaged over a text. No ML runtime: a lookup, a mean, an optional projection
/// and an optional linear layer, computed exactly as mobilekit's Python reference computes it
/// (`mobilekit/compress/static_format.py` describes the file).
///
/// Immutable after loading, so it is `Sendable` and may be used from any number of tasks.
struct StaticModel: Sendable {
    /// Why a file is not a usable static model.
    enum FormatError: Error, Equatable, CustomStringConvertible {
        case notAStaticModel
        case unsupportedVersion(Int)
        case wrongSize(expected: Int, actual: Int)

        var description: String {
            switch self {
            case .notAStaticModel:
                return "not a mobilekit static model (no MKSTATIC header)"
            case .unsupportedVersion(let version):
                return "static model format \(version); this package reads format \(StaticModel.version)"
            case .wrongSize(let expected, let actual):
                return "the static model should be \(expected) bytes but is \(actual)"
            }
        }
    }

    static let version = 1
    private static let headerBytes = 36
    private static let int8RowsFlag: UInt32 = 1
    private static let projectionFlag: UInt32 = 2
    private static let normalizeFlag: UInt32 = 4

    let vocabularySize: Int
    let tableDimensions: Int
    /// Length of `output`: the number of labels of a classifier, else the embedding width.
    let outputSize: Int
    private let width: Int
    private let labels: Int
    private let normalize: Bool
    private let excluded: Set<Int32>
    /// The token table as stored: int8 rows stay int8 in memory and are scaled as they are read.
    private let table: Table
    private let projection: [Float]?
    private let offset: [Float]?
    private let headWeights: [Float]?
    private let headBias: [Float]?

    private enum Table {
        case float32([Float])
        case int8(rows: [Int8], scales: [Float])
    }

    init(data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count >= Self.headerBytes, Array(bytes[0..<8]) == Array("MKSTATIC".utf8) else {
            throw FormatError.notAStaticModel
        }
        var reader = LittleEndianReader(bytes: bytes, position: 8)
        let version = Int(reader.uint32())
        guard version == Self.version else {
            throw FormatError.unsupportedVersion(version)
        }
        vocabularySize = Int(reader.uint32())
        tableDimensions = Int(reader.uint32())
        width = Int(reader.uint32())
        labels = Int(reader.uint32())
        let flags = reader.uint32()
        let excludedCount = Int(reader.uint32())
        normalize = flags & Self.normalizeFlag != 0
        let expected = Self.expectedSize(
            vocabulary: vocabularySize, dimensions: tableDimensions, width: width, labels: labels,
            excluded: excludedCount, flags: flags)
        guard expected == bytes.count else {
            throw FormatError.wrongSize(expected: expected, actual: bytes.count)
        }
        excluded = Set((0..<excludedCount).map { _ in reader.int32() })
        let cells = vocabularySize * tableDimensions
        if flags & Self.int8RowsFlag != 0 {
            let scales = reader.floats(vocabularySize)
            table = .int8(rows: reader.int8s(cells), scales: scales)
            reader.skip((4 - cells % 4) % 4)
        } else {
            table = .float32(reader.floats(cells))
        }
        if flags & Self.projectionFlag != 0 {
            projection = reader.floats(tableDimensions * width)
            offset = reader.floats(width)
        } else {
            projection = nil
            offset = nil
        }
        headWeights = labels > 0 ? reader.floats(labels * width) : nil
        headBias = labels > 0 ? reader.floats(labels) : nil
        outputSize = labels > 0 ? labels : width
    }

    private static func expectedSize(
        vocabulary: Int, dimensions: Int, width: Int, labels: Int, excluded: Int, flags: UInt32
    ) -> Int {
        var size = headerBytes + 4 * excluded
        if flags & int8RowsFlag != 0 {
            let cells = vocabulary * dimensions
            size += 4 * vocabulary + cells + (4 - cells % 4) % 4
        } else {
            size += 4 * vocabulary * dimensions
        }
        if flags & projectionFlag != 0 {
            size += 4 * (dimensions * width + width)
        }
        return size + 4 * (labels * width + labels)
    }

    /// The model's output for `ids`: a classifier's logits, or the embedding (L2-normalized when the
    /// model says so). [CLS], [SEP] and padding are left out of the mean; a text with no other token
    /// averages to zeros. Returns nil for an id outside the vocabulary.
    func output(ids: [Int32]) -> [Float]? {
        var mean = [Float](repeating: 0, count: tableDimensions)
        var count = 0
        for id in ids where !excluded.contains(id) {
            guard id >= 0, Int(id) < vocabularySize else {
                return nil
            }
            addRow(Int(id), into: &mean)
            count += 1
        }
        if count > 0 {
            let n = Float(count)
            for column in mean.indices {
                mean[column] /= n
            }
        }
        let pooled = project(mean)
        if let weights = headWeights, let bias = headBias {
            return (0..<labels).map { label in
                var sum: Float = 0
                for column in 0..<width {
                    sum += weights[label * width + column] * pooled[column]
                }
                return sum + bias[label]
            }
        }
        return normalize ? Self.l2Normalized(pooled) : pooled
    }

    private func addRow(_ id: Int, into sum: inout [Float]) {
        let start = id * tableDimensions
        switch table {
        case .float32(let values):
            for column in 0..<tableDimensions {
                sum[column] += values[start + column]
            }
        case .int8(let rows, let scales):
            let scale = scales[id]
            for column in 0..<tableDimensions {
                sum[column] += Float(rows[start + column]) * scale
            }
        }
    }

    private func project(_ mean: [Float]) -> [Float] {
        guard let matrix = projection, var out = offset else {
            return mean
        }
        for row in 0..<tableDimensions where mean[row] != 0 {
            let value = mean[row]
            for column in 0..<width {
                out[column] += value * matrix[row * width + column]
            }
        }
        return out
    }

    private static func l2Normalized(_ vector: [Float]) -> [Float] {
        let sum = vector.reduce(0.0) { $0 + Double($1) * Double($1) }
        let norm = Float(max(sum.squareRoot(), 1e-12))
        return vector.map { $0 / norm }
    }
}

/// Reads little-endian numbers from a byte array, front to back (bounds checked by the caller).
private struct LittleEndianReader {
    let bytes: [UInt8]
    var position: Int

    mutating func uint32() -> UInt32 {
        defer { position += 4 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[position + $1]) << (8 * UInt32($1)) }
    }

    mutating func int32() -> Int32 {
        Int32(bitPattern: uint32())
    }

    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float(bitPattern: uint32()) }
    }

    mutating func int8s(_ count: Int) -> [Int8] {
        defer { position += count }
        return bytes[position..<position + count].map { Int8(bitPattern: $0) }
    }

    mutating func skip(_ count: Int) {
        position += count
    }
}
