import ArgumentParser
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmark delivery throughput and latency against a local receiver.")
    func run() async throws {}
}
