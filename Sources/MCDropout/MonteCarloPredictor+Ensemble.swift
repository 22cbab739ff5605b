/// Deep ensembles (Lakshminarayanan et al. 2017) as one predictor: `K` networks of the same architecture, trained
/// from different seeds, with Monte-Carlo dropout inside each.
///
/// **Passes.** A request's `N` passes are spread over the members in a fixed split: member `k` runs
/// `⌊N/K⌋` passes, plus one when `k < N mod K` (``passCount(ofMember:total:)``). The statistics (mean, variance,
/// entropies, mutual information) cover all `N` passes, so the mutual information includes the members'
/// disagreement as well as each member's dropout spread.
///
/// **Random stream.** Member 0's masks are `MaskStream(seed: s)`, exactly as a single network's, so a one-member
/// ensemble is the single-network engine bit for bit; member `k ≥ 1`'s are `MaskStream(seed: memberSeed(s, k))`
/// (``memberSeed(_:member:)``). Member `k`'s own passes are numbered `0, 1, …` in that stream (adaptive sampling
/// continues the numbering from step to step), so equal seeds and equal `N` give bit-identical summaries.
///
/// **Workspace.** Each member keeps its own prepared inputs, statistics and generator in
/// ``MonteCarloWorkspace/members``; the request's statistics are their sums, in member order.
extension MonteCarloPredictor {
    /// Creates a predictor over an ensemble of networks with equal layer sizes, dropout and activation, whose
    /// outputs `head` describes; one network is the plain Monte-Carlo dropout predictor.
    public init(members: [DropoutMLP], head: OutputHead = .classification) {
        precondition(!members.isEmpty, "an ensemble needs at least one member")
        for member in members.dropFirst() {
            precondition(member.layerSizes == members[0].layerSizes, "ensemble members must have equal layer sizes")
            precondition(
                member.dropoutProbabilities == members[0].dropoutProbabilities
                    && member.activation == members[0].activation,
                "ensemble members must have equal dropout and activation")
        }
        self.init(model: members[0], head: head)
        otherMembers = members.dropFirst().map { MonteCarloPredictor(model: $0, head: head) }
    }

    /// The number of networks: 1 for a plain model.
    public var memberCount: Int { 1 + otherMembers.count }

    /// The member networks, the first being ``model``.
    public var memberModels: [DropoutMLP] { [model] + otherMembers.map(\.model) }

    /// The passes member `member` runs of a request's `total`: `⌊total/K⌋`, plus one for the first `total mod K`.
    public func passCount(ofMember member: Int, total: Int) -> Int {
        total / memberCount + (member < total % memberCount ? 1 : 0)
    }

    /// The seed of member `member`'s mask stream for request seed `seed`: `seed` itself for member 0, a SplitMix64
    /// mix of the seed and the member index otherwise.
    public static func memberSeed(_ seed: UInt64, member: Int) -> UInt64 {
        guard member > 0 else { return seed }
        var mixer = SplitMix64(seed: seed ^ (UInt64(member) &* 0xD1B5_4A32_D192_ED03))
        return mixer.next()
    }

    /// The predictor of member `index` (0 is `self`'s own network).
    func member(_ index: Int) -> MonteCarloPredictor { index == 0 ? self : otherMembers[index - 1] }

    /// Prepares the inputs and runs `sampleCount` passes of each, over all members, leaving the statistics in
    /// `workspace` for `summarize`.
    func runPasses(
        _ inputs: UnsafeBufferPointer<Float>, instanceCount: Int, sampleCount: Int, seed: UInt64,
        workspace: inout MonteCarloWorkspace
    ) {
        if otherMembers.isEmpty {
            prepare(inputs, instanceCount: instanceCount, workspace: &workspace)
            addPassesInHalves(sampleCount, stream: MaskStream(seed: seed), workspace: &workspace)
            return
        }
        prepareMembers(inputs, instanceCount: instanceCount, seed: seed, workspace: &workspace)
        addMemberPasses(sampleCount, workspace: &workspace, inHalves: true)
    }

    /// Adds a fixed-`N` request's `count` passes as its two halves, each in GEMMs and statistics of its own, and
    /// adds the second half's statistics to the first's (see `MonteCarloPredictor+Split.swift`).
    func addPassesInHalves(_ count: Int, stream: MaskStream, workspace: inout MonteCarloWorkspace) {
        let half = Self.splitPoint(sampleCount: count)
        addPasses(half, stream: stream, workspace: &workspace, splitAt: half)
        guard half < count else { return }
        addPasses(count - half, stream: stream, workspace: &workspace, firstPass: half, splitAt: half)
        workspace.addHalfStatistics(from: workspace.halfStatistics, classCount: model.outputSize)
    }

    /// Prepares every member's inputs and sets up its mask stream.
    func prepareMembers(
        _ inputs: UnsafeBufferPointer<Float>, instanceCount: Int, seed: UInt64, workspace: inout MonteCarloWorkspace
    ) {
        while workspace.members.count < memberCount { workspace.members.append(MonteCarloWorkspace()) }
        for index in 0..<memberCount {
            workspace.members[index].maskStream = MaskStream(seed: Self.memberSeed(seed, member: index))
            workspace.members[index].nextPass = 0
            member(index).prepare(inputs, instanceCount: instanceCount, workspace: &workspace.members[index])
        }
        workspace.instanceCount = instanceCount
        workspace.statistics.ensureCount(instanceCount * (2 * model.outputSize + 2))
    }

    /// Adds `count` passes, split over the members, and sums the members' statistics into `workspace`'s;
    /// `inHalves` (a fixed-`N` request): each member's passes in its two halves, as that network alone runs them.
    func addMemberPasses(_ count: Int, workspace: inout MonteCarloWorkspace, inHalves: Bool = false) {
        for index in 0..<memberCount {
            let passes = passCount(ofMember: index, total: count)
            guard passes > 0 else { continue }
            member(index).addPasses(passes, continuing: &workspace.members[index], inHalves: inHalves)
        }
        let width = workspace.instanceCount * (2 * model.outputSize + 2)
        workspace.statistics.withUnsafeMutableBufferPointer { total in
            for index in 0..<width { total[index] = 0 }
            for member in 0..<memberCount {
                workspace.members[member].statistics.withUnsafeBufferPointer { part in
                    for index in 0..<width { total[index] += part[index] }
                }
            }
        }
    }

    /// Adds `count` passes with the workspace's own mask stream (a member's), numbered on from its next pass.
    private func addPasses(_ count: Int, continuing workspace: inout MonteCarloWorkspace, inHalves: Bool) {
        let stream = workspace.maskStream
        if inHalves {
            addPassesInHalves(count, stream: stream, workspace: &workspace)
        } else {
            addPasses(count, stream: stream, workspace: &workspace, firstPass: workspace.nextPass)
        }
        workspace.nextPass += count
    }

    /// The ensemble's prediction with dropout off: the mean of the members' weight-scaling probabilities, as a
    /// summary of one pass per member (its variance and mutual information are the members' disagreement).
    public func ensembleDeterministic(_ input: [Float]) -> PredictiveSummary {
        let row = Matrix(rows: 1, columns: input.count, storage: input)
        var rows = Matrix(rows: memberCount, columns: model.outputSize)
        for index in 0..<memberCount {
            let probabilities = member(index).model.deterministicProbabilities(for: row)
            for column in 0..<model.outputSize { rows[index, column] = probabilities[0, column] }
        }
        return PredictiveSummary(passProbabilities: rows)
    }
}
