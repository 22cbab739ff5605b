import Foundation

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

/// `value` as a percentage with `digits` decimals, e.g. `99.23%`.
func percent(_ value: Double, digits: Int = 2) -> String { String(format: "%.\(digits)f%%", value * 100) }
