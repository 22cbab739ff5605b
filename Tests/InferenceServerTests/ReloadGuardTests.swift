import Foundation
import MCDropoutJSON
import TestSupport
import Testing

@testable import InferenceServer

/// SIGHUP must not turn one model into another under the same name: a reload that changes the labels or the dataset
/// is refused (and says why) unless the operator allows it; a missing file says so plainly.
@Suite("Reload guards")
struct ReloadGuardTests {
    private func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("reload-guard-\(UUID().uuidString)")
    }

    @Test("a file with other labels is refused under the same name, and the served model is kept")
    func otherLabelsRefused() throws {
        let directory = folder()
        let path = try writeSyntheticModel(name: "mnist", seed: 1, directory: directory)
        let registry = try ModelRegistry(paths: [path])
        let fashion = [
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot",
        ]
        _ = try writeSyntheticModel(name: "mnist", seed: 2, directory: directory, labels: fashion)
        guard case .kept(let name, let error) = registry.reload().first else {
            Issue.record("a file with other labels replaced the model")
            return
        }
        #expect(name == "mnist")
        #expect(error.reason.contains("labels differ"))
        #expect(error.reason.contains("'class 0' → 'T-shirt/top'"))
        #expect(error.reason.contains("--reload-allow-changes"))
        #expect(registry.snapshot.models["mnist"]?.version == 1)
        #expect(registry.snapshot.models["mnist"]?.labels.first == "class 0")
    }

    @Test("a file from another dataset is refused; the same labels and dataset reload")
    func otherDatasetRefused() throws {
        let directory = folder()
        let path = try writeSyntheticModel(name: "m", seed: 1, directory: directory)
        let registry = try ModelRegistry(paths: [path])
        _ = try writeSyntheticModel(name: "m", seed: 2, directory: directory, dataset: "fashion-mnist")
        guard case .kept(_, let error) = registry.reload().first else {
            Issue.record("a file from another dataset replaced the model")
            return
        }
        #expect(error.reason.contains("trained on 'fashion-mnist'"))
        _ = try writeSyntheticModel(name: "m", seed: 3, directory: directory)
        guard case .reloaded(_, let version) = registry.reload().first else {
            Issue.record("a compatible file was refused")
            return
        }
        #expect(version == 2)
    }

    @Test("the operator can allow label and dataset changes")
    func changesAllowed() throws {
        let directory = folder()
        let path = try writeSyntheticModel(name: "m", seed: 1, directory: directory)
        let registry = try ModelRegistry(paths: [path], allowsContractChanges: true)
        let labels = (0..<10).map { "kind \($0)" }
        _ = try writeSyntheticModel(name: "m", seed: 2, directory: directory, labels: labels, dataset: "other")
        guard case .reloaded = registry.reload().first else {
            Issue.record("an allowed change was refused")
            return
        }
        #expect(registry.snapshot.models["m"]?.labels == labels)
    }

    @Test("a missing file says 'no such file', a directory says so")
    func missingFile() throws {
        let directory = folder()
        let missing = directory.appendingPathComponent("absent.safetensors").path
        #expect(throws: ModelLoadError.self) { try ModelRegistry(paths: [missing]) }
        do {
            _ = try ModelRegistry(paths: [missing])
        } catch {
            #expect(error.reason == "no such file")
        }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        do {
            _ = try ModelRegistry(paths: [directory.path])
            Issue.record("a directory loaded as a model")
        } catch {
            #expect(error.reason.contains("is a directory"))
        }
    }

    @Test(
        "mcdropout-serve: SIGHUP refuses a relabelled file and logs why; MCDROPOUT_RELOAD_ALLOW_CHANGES=1 accepts it",
        .enabled(if: FileManager.default.isExecutableFile(atPath: serveExecutable.path)))
    func serveProcess() throws {
        for allowed in [false, true] {
            let directory = folder()
            let path = try writeSyntheticModel(name: "m", seed: 1, directory: directory)
            if allowed { setenv("MCDROPOUT_RELOAD_ALLOW_CHANGES", "1", 1) }
            defer { unsetenv("MCDROPOUT_RELOAD_ALLOW_CHANGES") }
            let server = try ServeProcess(arguments: ["--model", path])
            unsetenv("MCDROPOUT_RELOAD_ALLOW_CHANGES")
            let connection = try RawHTTPConnection(port: server.port)
            _ = try writeSyntheticModel(name: "m", seed: 2, directory: directory, labels: (0..<10).map { "kind \($0)" })
            server.signal(SIGHUP)
            if allowed {
                #expect(
                    eventually {
                        (try? connection.request(target: "/health").json?["models"]?[0]?["version"]) == .number(2)
                    })
            } else {
                #expect(eventually { server.child.standardError.contains("labels differ") })
                #expect(try connection.request(target: "/health").json?["models"]?[0]?["version"] == .number(1))
            }
            server.signal(SIGTERM)
            #expect(server.exits())
        }
    }
}
