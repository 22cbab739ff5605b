import ArgumentParser

@main
struct EvalCommand: ParsableCommand {
    func run() throws {}
}
