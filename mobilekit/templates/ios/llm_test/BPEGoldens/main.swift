// The command-line checker tests/sdk_llm builds from BPEGoldenCheck.swift (its own folder, so that the
// top-level code here never lands in an XCTest target):
//
//   BPEGoldens corpus.txt NAME ASSET GOLDENS [NAME ASSET GOLDENS]...
//
// prints one `RESULT name=...` line per tokenizer and the first mismatches; exits 1 on any mismatch.

import Foundation

let arguments = CommandLine.arguments
precondition(arguments.count >= 5 && (arguments.count - 2) % 3 == 0, "usage: corpus.txt (NAME ASSET GOLDENS)...")
let corpus = BPEGoldenCheck.readCorpus(try String(contentsOfFile: arguments[1], encoding: .utf8))
var mismatches = 0
for k in stride(from: 2, to: arguments.count, by: 3) {
    let asset = try Data(contentsOf: URL(fileURLWithPath: arguments[k + 1]))
    let goldens = try String(contentsOfFile: arguments[k + 2], encoding: .utf8)
    let result = try BPEGoldenCheck.check(name: arguments[k], asset: asset, goldens: goldens, corpus: corpus)
    for message in result.messages { print(message) }
    print(result.summary)
    mismatches += result.mismatches
}
exit(mismatches > 0 ? 1 : 0)
