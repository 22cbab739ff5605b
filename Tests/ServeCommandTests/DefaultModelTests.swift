import ArgumentParser
import Foundation
import Testing

@testable import mcdropout_serve

@Suite("mcdropout-serve finds its default model from any folder")
struct DefaultModelTests {
    /// A fake checkout: `repo/models/mnist.safetensors` and `repo/.build/release/mcdropout-serve`.
    func checkout() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("checkout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent(".build/release"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("models"), withIntermediateDirectories: true)
        try Data("model".utf8).write(to: root.appendingPathComponent("models/mnist.safetensors"))
        try Data().write(to: root.appendingPathComponent(".build/release/mcdropout-serve"))
        return root
    }

    @Test("the relative default is kept where it exists, found beside the executable elsewhere, kept when nowhere")
    func resolution() throws {
        let root = try checkout()
        defer { try? FileManager.default.removeItem(at: root) }
        let executable = root.appendingPathComponent(".build/release/mcdropout-serve")
        let elsewhere = FileManager.default.temporaryDirectory.path
        #expect(
            DefaultModel.resolve(["models/mnist.safetensors"], currentDirectory: root.path, executable: executable)
                == ["models/mnist.safetensors"])
        #expect(
            DefaultModel.resolve(["models/mnist.safetensors"], currentDirectory: elsewhere, executable: executable)
                == [root.appendingPathComponent("models/mnist.safetensors").path])
        let stranger = URL(fileURLWithPath: "/usr/bin/mcdropout-serve")
        #expect(
            DefaultModel.resolve(["models/mnist.safetensors"], currentDirectory: elsewhere, executable: stranger)
                == ["models/mnist.safetensors"])
        #expect(
            DefaultModel.resolve(["/abs/m.safetensors"], currentDirectory: elsewhere, executable: executable)
                == ["/abs/m.safetensors"])
    }

    @Test("--help shows the resolved default")
    func helpShowsDefault() {
        let resolved = DefaultModel.resolve(["models/mnist.safetensors"])[0]
        #expect(ServeCommand.helpMessage(columns: 200).contains("(default: \(resolved))"))
    }
}
