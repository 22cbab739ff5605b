/// The data sets the tools know by name, with their class names.
public enum KnownDataset: String, Sendable, CaseIterable {
    case mnist
    case fashionMNIST = "fashion-mnist"

    /// One name per class, in label order.
    public var labels: [String] {
        switch self {
        case .mnist: return (0..<10).map(String.init)
        case .fashionMNIST:
            return [
                "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot",
            ]
        }
    }

    /// The first 20 labels of the published training and test splits. The two sets have the same shapes and class
    /// count, so the label order is what tells their files apart.
    var leadingLabels: (train: [UInt8], test: [UInt8]) {
        switch self {
        case .mnist:
            return (
                [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7, 2, 8, 6, 9],
                [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4]
            )
        case .fashionMNIST:
            return (
                [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4],
                [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0]
            )
        }
    }

    /// The known data set whose published `split` starts with these labels; nil for any other data.
    public static func recognize(_ set: LabeledImages, split: DatasetLoader.Split) -> KnownDataset? {
        let leading = Array(set.labels.prefix(20))
        guard leading.count == 20 else { return nil }
        return allCases.first { (split == .train ? $0.leadingLabels.train : $0.leadingLabels.test) == leading }
    }

    /// Throws when `set`, loaded from `directory`, is recognisably another known data set than `expected`. Data that
    /// is no known set (your own files) passes.
    public static func check(
        _ set: LabeledImages, split: DatasetLoader.Split, from directory: String, expected: String
    ) throws(DatasetError) {
        guard let found = recognize(set, split: split), found.rawValue != expected else { return }
        throw .otherDataset(directory: directory, expected: expected, found: found.rawValue)
    }
}
