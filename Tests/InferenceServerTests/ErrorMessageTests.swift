import Foundation
import HTTPTransport
import InferenceServer
import MCDropoutJSON
import Testing

/// Error messages echo numbers as the client wrote them: whole numbers without a trailing ".0".
@Suite("Error messages echo whole numbers as integers")
struct ErrorMessageTests {
    @Test("samples, pixels and V2 tensors")
    func wholeNumbers() throws {
        let service = try makeService(paths: [try writeSyntheticModel(name: "m")])
        var pixels = testPixels()
        let cases: [(target: String, body: String, message: String)] = [
            ("/predict", #"{"pixels": \#(pixelsJSON(pixels)), "samples": 10001}"#, "got 10001"),
            (
                {
                    pixels[0] = 256
                    return "/predict"
                }(), #"{"pixels": \#(pixelsJSON(pixels))}"#, "'pixels[0]' is 256;"
            ),
            (
                "/v2/models/m/infer",
                #"{"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "data": \#(pixelsJSON(pixels))}]}"#,
                "element 0 is 256;"
            ),
        ]
        for (target, body, message) in cases {
            let response = service.handle(HTTPRequest(method: "POST", path: target, body: jsonBody(body)))
            #expect(response.status == 400)
            let error = (try? JSONParser.parse(response.body))?["error"]?.stringValue ?? ""
            #expect(error.contains(message), "\(error)")
            #expect(!error.contains(".0;") && !error.hasSuffix(".0"), "\(error)")
        }
    }
}
