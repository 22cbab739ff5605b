import ArgumentParser
import Foundation

/// The `MCDROPOUT_*` environment variables of a command, derived from its ArgumentParser definitions.
///
/// Every option and flag `--some-name` may also come from `MCDROPOUT_SOME_NAME`; the command line wins. There is no
/// list to keep: the options are read from ArgumentParser's own description of the command (`_dumpHelp()`, the JSON
/// behind `--experimental-dump-help`), so an option, its flag, its default (the property's initial value) and its
/// variable are declared once, by the `@Option` or `@Flag` property.
enum EnvironmentOptions {
    /// One long-named option or flag of a command.
    struct Argument: Equatable, Sendable {
        /// The long name without dashes, for example "max-samples".
        var name: String
        /// Whether it takes no value: `MCDROPOUT_X=1` (or true, yes, on) turns it on; anything else leaves it off.
        var isFlag: Bool
        /// Whether it may be repeated: its variable holds a comma-separated list.
        var isRepeating: Bool

        /// The environment variable, for example "MCDROPOUT_MAX_SAMPLES".
        var variable: String { "MCDROPOUT_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }
    }

    /// The options and flags of `command` that have a long name, except `--help` and `--version`.
    static func arguments(of command: any ParsableCommand.Type) -> [Argument] {
        struct Description: Decodable {
            struct Command: Decodable { var arguments: [Entry]? }
            struct Entry: Decodable {
                struct Name: Decodable { var kind: String, name: String }
                var kind: String
                var names: [Name]?
                var isRepeating: Bool
            }
            var command: Command
        }
        guard let description = try? JSONDecoder().decode(Description.self, from: Data(command._dumpHelp().utf8)) else {
            preconditionFailure("ArgumentParser's description of \(command) is not the JSON it documents")
        }
        return (description.command.arguments ?? []).compactMap { entry in
            guard entry.kind == "option" || entry.kind == "flag",
                let name = entry.names?.first(where: { $0.kind == "long" })?.name, name != "help", name != "version"
            else { return nil }
            return Argument(name: name, isFlag: entry.kind == "flag", isRepeating: entry.isRepeating)
        }
    }

    /// `arguments` plus an option for every variable of `command` set in `environment` whose option the command line
    /// does not already give.
    static func apply(
        to arguments: [String], of command: any ParsableCommand.Type,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [String] {
        var result = arguments
        let given = Set(arguments.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=")[0]) })
        for argument in Self.arguments(of: command).sorted(by: { $0.name < $1.name }) {
            let option = "--" + argument.name
            guard let value = environment[argument.variable], !given.contains(option) else { continue }
            if argument.isFlag {
                if ["1", "true", "yes", "on"].contains(value.lowercased()) { result.append(option) }
            } else if argument.isRepeating {
                for item in value.split(separator: ",") { result += [option, String(item)] }
            } else {
                result += [option, value]
            }
        }
        return result
    }
}
