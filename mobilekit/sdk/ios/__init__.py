"""The iOS SDK: a Swift package (Core ML wrapper, native tokenizer, XCTest goldens) and its zip."""
