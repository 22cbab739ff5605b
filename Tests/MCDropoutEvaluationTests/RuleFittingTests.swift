import MCDropout
import Testing

@testable import MCDropoutEvaluation

@Suite("Composite rule fitting")
struct RuleFittingTests {
    @Test("the threshold flags at most the allowed count, counting inputs already flagged and whole runs of ties")
    func threshold() {
        let values: [Double] = [5, 1, 4, 4, 3, 2]
        #expect(RuleFitting.thresholdFlagging(atMost: 0, of: values, alreadyFlagged: nil) == 5)
        #expect(RuleFitting.thresholdFlagging(atMost: 1, of: values, alreadyFlagged: nil) == 4)
        #expect(RuleFitting.thresholdFlagging(atMost: 2, of: values, alreadyFlagged: nil) == 4)  // the 4s come together
        #expect(RuleFitting.thresholdFlagging(atMost: 3, of: values, alreadyFlagged: nil) == 3)
        // Index 0 (value 5) and index 4 (value 3) are already flagged: flagging the 5 adds nothing, the 4s add two,
        // the 3 nothing, the 2 one.
        let flagged = [true, false, false, false, true, false]
        #expect(RuleFitting.thresholdFlagging(atMost: 3, of: values, alreadyFlagged: flagged) == 4)
        #expect(RuleFitting.thresholdFlagging(atMost: 4, of: values, alreadyFlagged: flagged) == 2)
        #expect(RuleFitting.thresholdFlagging(atMost: 1, of: values, alreadyFlagged: flagged) == .infinity)
    }

    @Test(
        "the fitted rule stays within the budget, gives the density score its share and picks the better summary score")
    func budget() {
        var generator = RandomSource(seed: 21)
        let count = 1000
        let density = (0..<count).map { _ in Double(generator.nextUnitFloat()) }
        let isCorrect = (0..<count).map { $0 % 10 != 0 }  // every tenth prediction wrong
        // A summary score that ranks the wrong predictions highest, and one that is noise.
        let informative = (0..<count).map { Double(generator.nextUnitFloat()) + (isCorrect[$0] ? 0 : 2) }
        let noise = (0..<count).map { _ in Double(generator.nextUnitFloat()) }
        let result = RuleFitting.fit(
            scores: [
                .density(.reconstructionError): density, .uncertainty(.maxProbability): noise,
                .uncertainty(.mutualInformation): informative,
            ],
            isCorrect: isCorrect, budget: 0.08, densityShare: 0.25,
            summaryCandidates: [.maxProbability, .mutualInformation])
        let rule = result.rule
        #expect(rule.conditions.map(\.score) == [.uncertainty(.mutualInformation), .density(.reconstructionError)])
        #expect(result.conditionFlagged[1] <= 0.02 && result.conditionFlagged[1] >= 0.019)
        #expect(rule.validationFlagged! <= 0.08 && rule.validationFlagged! >= 0.075)
        // 100 wrong predictions score above 2; a budget of 80 flags can only catch most of them, so ≈ 20 stay wrong.
        let flaggedWrong = (0..<count).filter { index in
            !isCorrect[index]
                && (informative[index] > rule.conditions[0].threshold || density[index] > rule.conditions[1].threshold)
        }.count
        #expect(flaggedWrong >= 60)
        #expect(rule.validationUnflaggedAccuracy! > 0.95)
        #expect(rule.cleanFlagBudget == 0.08)
    }
}
