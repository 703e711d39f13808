//! One loaded ONNX model, optimised for one concrete input shape and run as
//! often as needed: loading and optimising cost far more than a run.

use tract_onnx::prelude::*;

use super::FaceError;
use super::frame::Planar;

/// A runnable model with a fixed `[1, 3, height, width]` float input.
#[derive(Debug)]
pub(crate) struct Session {
    name: &'static str,
    width: usize,
    height: usize,
    plan: Arc<TypedRunnableModel>,
}

impl Session {
    /// Builds the session from verified model bytes. `dynamic` relaxes the
    /// shape declarations of models exported with symbolic sizes, whose
    /// stored output shapes would otherwise contradict the concrete input.
    pub fn load(
        name: &'static str,
        bytes: &[u8],
        (width, height): (usize, usize),
        dynamic: bool,
    ) -> Result<Self, FaceError> {
        let fail = |e: TractError| FaceError::Inference {
            model: name,
            message: format!("{e:#}"),
        };
        let onnx = tract_onnx::onnx()
            .with_ignore_output_shapes(dynamic)
            .with_ignore_value_info(dynamic);
        let plan = onnx
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, height, width]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(fail)?;
        Ok(Self {
            name,
            width,
            height,
            plan,
        })
    }

    pub fn input_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Runs the model and returns every output flattened, with its shape.
    pub fn run(&self, input: Planar) -> Result<Vec<Output>, FaceError> {
        let fail = |message: String| FaceError::Inference {
            model: self.name,
            message,
        };
        if (input.width, input.height) != (self.width, self.height) {
            return Err(fail(format!(
                "input is {}x{}, the session was built for {}x{}",
                input.width, input.height, self.width, self.height
            )));
        }
        let tensor = Tensor::from_shape(&[1, 3, self.height, self.width], &input.data)
            .map_err(|e| fail(format!("{e:#}")))?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| fail(format!("{e:#}")))?;
        outputs
            .iter()
            .map(|value| {
                let view = value
                    .to_plain_array_view::<f32>()
                    .map_err(|e| fail(format!("{e:#}")))?;
                Ok(Output {
                    shape: view.shape().to_vec(),
                    values: view.iter().copied().collect(),
                })
            })
            .collect()
    }

    /// The model's output names in output order; an output without a
    /// label is named after the node that makes it.
    pub fn output_names(&self) -> Vec<String> {
        let model = self.plan.model();
        model
            .outputs
            .iter()
            .map(|&outlet| {
                model
                    .outlet_label(outlet)
                    .unwrap_or(&model.node(outlet.node).name)
                    .to_owned()
            })
            .collect()
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// One model output: its shape and its values in row-major order.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}
