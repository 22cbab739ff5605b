/// The data sets the tools know by name, with their class names.
public enum KnownDataset: String, Sendable, CaseIterable {
    case mnist
    case fashionMNIST = "fashion-mnist"

    /// One name per class, in label order.
    public var labels: [String] {
        switch self {
        case .mnist: return (0..<10).map(String.init)
        case .fashionMNIST:
            return ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        }
    }
}
