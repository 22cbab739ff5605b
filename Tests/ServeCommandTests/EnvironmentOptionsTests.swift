import ArgumentParser
import Foundation
import Testing

@testable import mcdropout_serve

@Suite("mcdropout-serve options: flag, default and MCDROPOUT_* variable declared once")
struct EnvironmentOptionsTests {
    /// Every entry ArgumentParser knows for the command, as (kind, long name), except --help and --version.
    static func declaredArguments() throws -> [(kind: String, name: String?)] {
        let json = try JSONSerialization.jsonObject(with: Data(ServeCommand._dumpHelp().utf8)) as? [String: Any]
        let command = try #require(json?["command"] as? [String: Any])
        let arguments = try #require(command["arguments"] as? [[String: Any]])
        return arguments.compactMap { entry in
            let names = (entry["names"] as? [[String: String]]) ?? []
            let long = names.first { $0["kind"] == "long" }?["name"]
            if long == "help" || long == "version" { return nil }
            return (kind: entry["kind"] as? String ?? "?", name: long)
        }
    }

    /// Options without a default whose value is not a file name, with a value each accepts.
    static let valuesWithoutDefault = ["cpu-latency-limit": "0"]

    /// A value the option accepts: its default, one more than an integer default, or a file name.
    static func sampleValue(for argument: EnvironmentOptions.Argument) throws -> String {
        if argument.isFlag { return "1" }
        if let value = valuesWithoutDefault[argument.name] { return value }
        if argument.isRepeating { return "a.safetensors,b.safetensors" }
        let help = try #require(
            (try JSONSerialization.jsonObject(with: Data(ServeCommand._dumpHelp().utf8)) as? [String: Any]))
        let entries = ((help["command"] as? [String: Any])?["arguments"] as? [[String: Any]]) ?? []
        let entry = entries.first { entry in
            ((entry["names"] as? [[String: String]]) ?? []).contains { $0["name"] == argument.name }
        }
        guard let defaultValue = entry?["defaultValue"] as? String else { return "file.txt" }
        return Int(defaultValue).map { String($0 + 1) } ?? defaultValue
    }

    @Test("every option and flag of the command has an environment variable, and setting it alone sets the option")
    func everyOptionHasAVariable() throws {
        let declared = try Self.declaredArguments()
        let derived = EnvironmentOptions.arguments(of: ServeCommand.self)
        #expect(declared.count == derived.count, "an argument without a long option name has no variable: \(declared)")
        #expect(declared.compactMap(\.name) == derived.map(\.name))
        #expect(Set(derived.map(\.variable)).count == derived.count)
        #expect(derived.contains(EnvironmentOptions.Argument(name: "max-samples", isFlag: false, isRepeating: false)))
        for argument in derived {
            let value = try Self.sampleValue(for: argument)
            let arguments = EnvironmentOptions.apply(
                to: [], of: ServeCommand.self, environment: [argument.variable: value, "UNRELATED": "x"])
            #expect(arguments.first == "--\(argument.name)", "\(argument.variable)=\(value) → \(arguments)")
            #expect(throws: Never.self, "\(arguments)") { _ = try ServeCommand.parseAsRoot(arguments) }
        }
    }

    @Test("the command line wins; lists split on commas; flags turn on only for 1, true, yes or on")
    func precedence() throws {
        let environment = [
            "MCDROPOUT_PORT": "9000", "MCDROPOUT_MODEL": "a.safetensors,b.safetensors",
            "MCDROPOUT_RELOAD_ALLOW_CHANGES": "0", "MCDROPOUT_MAX_SAMPLES": "500",
        ]
        let arguments = EnvironmentOptions.apply(
            to: ["--port", "7000"], of: ServeCommand.self, environment: environment)
        let command = try #require(try ServeCommand.parseAsRoot(arguments) as? ServeCommand)
        #expect(command.port == 7000)
        #expect(command.models == ["a.safetensors", "b.safetensors"])
        #expect(command.maxSamples == 500)
        #expect(!command.reloadAllowChanges)
        let on = EnvironmentOptions.apply(
            to: [], of: ServeCommand.self, environment: ["MCDROPOUT_RELOAD_ALLOW_CHANGES": "yes"])
        #expect(on == ["--reload-allow-changes"])
    }

    @Test("without flags or variables, the options are the server configuration's defaults; --model replaces them")
    func defaults() throws {
        let command = try #require(try ServeCommand.parseAsRoot([]) as? ServeCommand)
        #expect(command.models == ["models/mnist.safetensors"])
        #expect(command.threads == 2 && command.port == 8080 && command.maxBodyBytes == 1 << 20)
        let given = try #require(try ServeCommand.parseAsRoot(["--model", "x.safetensors"]) as? ServeCommand)
        #expect(given.models == ["x.safetensors"])
    }
}
