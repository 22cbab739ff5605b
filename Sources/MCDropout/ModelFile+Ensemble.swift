/// Deep ensembles in one model file.
///
/// A single network is stored as `layers.{i}.weight` / `layers.{i}.bias`; an ensemble of `K ≥ 2` networks stores
/// member `k`'s tensors as `members.{k}.layers.{i}.weight` / `.bias` (and no `layers.*`), all with the metadata's
/// layer sizes and dropout. ``ModelFile/model`` is member 0; it is the network the density scores' feature-space
/// statistics describe.
extension ModelFile {
    /// Pairs the member networks (at least one; all with the metadata's architecture) with their metadata.
    public init(members: [DropoutMLP], metadata: ModelMetadata, density: DensityModel? = nil) {
        precondition(!members.isEmpty, "a model needs at least one network")
        self.init(model: members[0], metadata: metadata, density: density)
        for member in members.dropFirst() {
            precondition(member.layerSizes == metadata.layerSizes, "every member must have the metadata's layer sizes")
            precondition(member.dropoutProbabilities == metadata.dropoutProbabilities, "every member: same dropout")
            precondition(member.activation == metadata.activation, "every member: the metadata's activation")
        }
        additionalMembers = Array(members.dropFirst())
    }

    /// Every network: ``model`` first, then ``additionalMembers``.
    public var members: [DropoutMLP] { [model] + additionalMembers }

    /// The networks' tensors in file order: `layers.*` for one network, `members.{k}.layers.*` for an ensemble.
    var networkTensors: [(name: String, shape: [Int], values: [Float])] {
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        let networks = members
        for (memberIndex, network) in networks.enumerated() {
            let prefix = networks.count == 1 ? "" : "members.\(memberIndex)."
            for (index, layer) in network.layers.enumerated() {
                tensors.append(
                    ("\(prefix)layers.\(index).weight", [layer.outputSize, layer.inputSize], layer.weight.storage))
                tensors.append(("\(prefix)layers.\(index).bias", [layer.outputSize], layer.bias))
            }
        }
        return tensors
    }

    /// The tensor-name prefixes of the networks a file holds: `[""]` for the single-network layout, else
    /// `members.0.`, `members.1.`, … for as long as `members.{k}.layers.0.weight` exists.
    static func networkPrefixes(in names: some Collection<String>) -> [String] {
        let set = Set(names)
        guard set.contains("members.0.layers.0.weight") else { return [""] }
        var prefixes: [String] = []
        while set.contains("members.\(prefixes.count).layers.0.weight") {
            prefixes.append("members.\(prefixes.count).")
        }
        return prefixes
    }
}
