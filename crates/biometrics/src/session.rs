//! One loaded ONNX model, optimised for concrete input shapes and run as
//! often as needed: loading and optimising cost far more than a run.

use std::cell::Cell;
use std::time::Instant;

use thiserror::Error;
use tract_onnx::prelude::*;

use crate::face::frame::Planar;

thread_local! {
    /// Nanoseconds this thread has spent inside model runs, so a caller can
    /// tell the models' own time from the work around them.
    static INFERENCE_NS: Cell<u64> = const { Cell::new(0) };
}

/// The time this thread has spent running models so far, in nanoseconds.
pub(crate) fn inference_ns() -> u64 {
    INFERENCE_NS.with(Cell::get)
}

/// Milliseconds this thread has spent running models since `start`, a
/// reading of [`inference_ns`].
pub(crate) fn inference_ms_since(start: u64) -> f64 {
    inference_ns().saturating_sub(start) as f64 / 1e6
}

/// A model failed to load or to run.
#[derive(Debug, Error)]
#[error("model {model} failed: {message}")]
pub struct InferenceError {
    pub model: &'static str,
    pub message: String,
}

/// A runnable model with fixed input shapes.
#[derive(Debug)]
pub(crate) struct Session {
    name: &'static str,
    inputs: Vec<Vec<usize>>,
    plan: Arc<TypedRunnableModel>,
}

impl Session {
    /// A model with one `[1, 3, height, width]` float image input.
    /// `dynamic` relaxes the shape declarations of models exported with
    /// symbolic sizes, whose stored output shapes would otherwise contradict
    /// the concrete input.
    pub fn load(
        name: &'static str,
        bytes: &[u8],
        (width, height): (usize, usize),
        dynamic: bool,
    ) -> Result<Self, InferenceError> {
        Self::load_with_inputs(name, bytes, &[&[1, 3, height, width]], dynamic)
    }

    /// A model whose float inputs have the given shapes, in input order.
    pub fn load_with_inputs(
        name: &'static str,
        bytes: &[u8],
        shapes: &[&[usize]],
        dynamic: bool,
    ) -> Result<Self, InferenceError> {
        let fail = |e: TractError| InferenceError {
            model: name,
            message: format!("{e:#}"),
        };
        let onnx = tract_onnx::onnx()
            .with_ignore_output_shapes(dynamic)
            .with_ignore_value_info(dynamic);
        let mut model = onnx.model_for_read(&mut &bytes[..]).map_err(fail)?;
        for (i, shape) in shapes.iter().enumerate() {
            model = model
                .with_input_fact(i, f32::fact(*shape).into())
                .map_err(fail)?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(fail)?;
        Ok(Self {
            name,
            inputs: shapes.iter().map(|s| s.to_vec()).collect(),
            plan,
        })
    }

    /// `(width, height)` of an image model's input.
    pub fn input_size(&self) -> (usize, usize) {
        match self.inputs.first().map(Vec::as_slice) {
            Some([_, _, h, w]) => (*w, *h),
            _ => (0, 0),
        }
    }

    /// Runs an image model.
    pub fn run(&self, input: Planar) -> Result<Vec<Output>, InferenceError> {
        if (input.width, input.height) != self.input_size() {
            let (w, h) = self.input_size();
            return Err(self.fail(format!(
                "input is {}x{}, the session was built for {w}x{h}",
                input.width, input.height
            )));
        }
        self.run_inputs(&[&input.data])
    }

    /// Runs the model on flat row-major inputs of the shapes it was built
    /// for, and returns every output flattened, with its shape.
    pub fn run_inputs(&self, inputs: &[&[f32]]) -> Result<Vec<Output>, InferenceError> {
        if inputs.len() != self.inputs.len() {
            return Err(self.fail(format!(
                "{} inputs given, the model takes {}",
                inputs.len(),
                self.inputs.len()
            )));
        }
        let mut values = TVec::new();
        for (data, shape) in inputs.iter().zip(&self.inputs) {
            let tensor =
                Tensor::from_shape(shape, data).map_err(|e| self.fail(format!("{e:#}")))?;
            values.push(tensor.into());
        }
        let started = Instant::now();
        let outputs = self.plan.run(values);
        let spent = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        INFERENCE_NS.with(|ns| ns.set(ns.get().saturating_add(spent)));
        let outputs = outputs.map_err(|e| self.fail(format!("{e:#}")))?;
        outputs
            .iter()
            .map(|value| {
                let view = value
                    .to_plain_array_view::<f32>()
                    .map_err(|e| self.fail(format!("{e:#}")))?;
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

    fn fail(&self, message: String) -> InferenceError {
        InferenceError {
            model: self.name,
            message,
        }
    }
}

/// One model output: its shape and its values in row-major order.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}
