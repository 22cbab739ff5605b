/// A dense row-major matrix of `Float`, the one tensor type of the core.
///
/// Rows are samples (or Monte-Carlo passes) and columns are features, so a batch of `B` inputs of width `D` is a
/// `B × D` matrix. Weights use PyTorch's `nn.Linear` layout, `[out, in]`.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public private(set) var rows: Int
    /// Number of columns.
    public private(set) var columns: Int
    /// The elements, row after row; `storage.count == rows * columns`.
    public var storage: [Float]

    /// Creates a matrix filled with one value.
    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: value, count: rows * columns)
    }

    /// Creates a matrix over existing row-major elements.
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(rows >= 0 && columns >= 0 && storage.count == rows * columns, "storage does not match shape")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// The element at `row`, `column`.
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }

    /// A copy of one row.
    public func row(_ index: Int) -> [Float] {
        Array(storage[index * columns..<(index + 1) * columns])
    }

    /// Changes the shape, keeping the allocated capacity so workspaces can be reused without reallocating.
    ///
    /// Element values after a resize are unspecified; callers overwrite them.
    public mutating func resize(rows newRows: Int, columns newColumns: Int) {
        precondition(newRows >= 0 && newColumns >= 0, "matrix dimensions must be non-negative")
        let count = newRows * newColumns
        if storage.count < count {
            storage.append(contentsOf: repeatElement(0, count: count - storage.count))
        } else if storage.count > count {
            storage.removeLast(storage.count - count)
        }
        rows = newRows
        columns = newColumns
    }
}
