/* ops.c - the table of ONNX ops nabla runs: for each, its function, the input and
 * output counts it accepts and the attributes it understands. A node whose op is not
 * here, whose counts do not fit or that carries an attribute not listed fails at
 * load (load.c), naming the node, the op, the opset and what is missing. */
#include "onnx/onnx_internal.h"

#include <string.h>

#define D(name) OX_OP(name);
D(identity) D(reshape) D(flatten) D(transpose) D(squeeze) D(unsqueeze) D(concat) D(split) D(slice) D(gather)
D(gather_elements) D(expand) D(tile) D(pad) D(shape) D(size) D(constant) D(constant_of_shape) D(cast) D(range)
D(depth_to_space) D(resize)
D(add) D(sub) D(mul) D(div) D(pow) D(and) D(or) D(xor) D(equal) D(less) D(greater) D(less_equal) D(greater_equal)
D(mod) D(bitshift) D(max) D(min) D(sum) D(mean)
D(floor) D(ceil) D(round) D(reciprocal) D(sin) D(cos) D(tan) D(asin) D(acos) D(atan) D(sinh) D(cosh) D(asinh)
D(acosh) D(atanh) D(erf) D(softplus) D(softsign) D(hardswish) D(selu) D(hard_sigmoid) D(celu) D(thresholded_relu)
D(shrink) D(neg) D(abs) D(sign) D(not) D(exp) D(log) D(sqrt) D(sigmoid) D(tanh) D(relu) D(isnan) D(isinf) D(clip)
D(where) D(reduce_sum) D(reduce_mean) D(reduce_max) D(reduce_min) D(reduce_prod) D(reduce_l1) D(reduce_l2)
D(reduce_log_sum) D(reduce_log_sum_exp) D(reduce_sum_square) D(argmax) D(cumsum)
D(conv) D(conv_transpose) D(max_pool) D(average_pool) D(global_max_pool) D(global_average_pool) D(batch_norm)
D(instance_norm) D(layer_norm) D(gemm) D(matmul) D(leaky_relu) D(elu) D(prelu) D(softmax) D(log_softmax) D(hardmax)
D(dropout) D(lrn)
D(nll_loss) D(softmax_cross_entropy) D(trilu) D(one_hot) D(topk) D(scatter_elements) D(scatter_nd) D(gather_nd) D(nonzero)
D(compress) D(reverse_sequence) D(eye_like) D(mvn) D(det) D(quantize_linear) D(dequantize_linear) D(dynamic_quantize_linear)
D(window) D(rnn) D(grid_sample) D(max_unpool) D(roi_align)
D(einsum) D(unique) D(nms) D(conv_integer) D(matmul_integer) D(qlinear_matmul) D(qlinear_conv) D(dft) D(stft)
#undef D
OX_CHECK(grid_sample);
OX_CHECK(rnn);
OX_CHECK(loss);

OX_CHECK(pad);
OX_CHECK(constant);
OX_CHECK(cast);
OX_CHECK(resize);
OX_CHECK(autopad);
OX_CHECK(batchnorm);

#define BIN_ATTRS "broadcast,axis" /* opset < 7 broadcasting (ops_math.c) */
#define REDUCE_ATTRS "axes,keepdims,noop_with_empty_axes"
#define CONV_ATTRS "auto_pad,dilations,group,kernel_shape,pads,strides"
#define POOL_ATTRS "auto_pad,ceil_mode,count_include_pad,dilations,kernel_shape,pads,strides,storage_order"
#define N 64

static const ox_op ops[] = {
    {"Identity", ox_op_identity, 1, 1, 1, 1, "", NULL},
    {"Reshape", ox_op_reshape, 1, 2, 1, 1, "shape,allowzero", NULL},
    {"Flatten", ox_op_flatten, 1, 1, 1, 1, "axis", NULL},
    {"Transpose", ox_op_transpose, 1, 1, 1, 1, "perm", NULL},
    {"Squeeze", ox_op_squeeze, 1, 2, 1, 1, "axes", NULL},
    {"Unsqueeze", ox_op_unsqueeze, 1, 2, 1, 1, "axes", NULL},
    {"Concat", ox_op_concat, 1, N, 1, 1, "axis", NULL},
    {"Split", ox_op_split, 1, 2, 1, 16, "axis,split", NULL},
    {"Slice", ox_op_slice, 1, 5, 1, 1, "starts,ends,axes", NULL},
    {"Gather", ox_op_gather, 2, 2, 1, 1, "axis", NULL},
    {"GatherElements", ox_op_gather_elements, 2, 2, 1, 1, "axis", NULL},
    {"Expand", ox_op_expand, 2, 2, 1, 1, "", NULL},
    {"Tile", ox_op_tile, 2, 2, 1, 1, "", NULL},
    {"Pad", ox_op_pad, 1, 4, 1, 1, "mode,pads,paddings,value", ox_check_pad},
    {"Shape", ox_op_shape, 1, 1, 1, 1, "start,end", NULL},
    {"Size", ox_op_size, 1, 1, 1, 1, "", NULL},
    {"Constant", ox_op_constant, 0, 0, 1, 1, "value,value_float,value_floats,value_int,value_ints,value_string,value_strings,sparse_value", ox_check_constant},
    {"ConstantOfShape", ox_op_constant_of_shape, 1, 1, 1, 1, "value", NULL},
    {"Cast", ox_op_cast, 1, 1, 1, 1, "to,saturate", ox_check_cast},
    {"CastLike", ox_op_cast, 2, 2, 1, 1, "saturate", ox_check_cast},
    {"Range", ox_op_range, 3, 3, 1, 1, "", NULL},
    {"DepthToSpace", ox_op_depth_to_space, 1, 1, 1, 1, "blocksize,mode", NULL},
    {"SpaceToDepth", ox_op_depth_to_space, 1, 1, 1, 1, "blocksize", NULL},
    {"Resize", ox_op_resize, 1, 4, 1, 1,
     "mode,coordinate_transformation_mode,nearest_mode,cubic_coeff_a,exclude_outside,extrapolation_value,antialias,axes,keep_aspect_ratio_policy",
     ox_check_resize},
    {"Upsample", ox_op_resize, 1, 2, 1, 1, "mode,scales,height_scale,width_scale", ox_check_resize},
    {"Add", ox_op_add, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Sub", ox_op_sub, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Mul", ox_op_mul, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Div", ox_op_div, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Pow", ox_op_pow, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"And", ox_op_and, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Or", ox_op_or, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Xor", ox_op_xor, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Equal", ox_op_equal, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Less", ox_op_less, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"Greater", ox_op_greater, 2, 2, 1, 1, BIN_ATTRS, NULL},
    {"LessOrEqual", ox_op_less_equal, 2, 2, 1, 1, "", NULL},
    {"GreaterOrEqual", ox_op_greater_equal, 2, 2, 1, 1, "", NULL},
    {"Mod", ox_op_mod, 2, 2, 1, 1, "fmod", NULL},
    {"BitShift", ox_op_bitshift, 2, 2, 1, 1, "direction", NULL},
    {"Max", ox_op_max, 1, N, 1, 1, "", NULL},
    {"Min", ox_op_min, 1, N, 1, 1, "", NULL},
    {"Sum", ox_op_sum, 1, N, 1, 1, "", NULL},
    {"Mean", ox_op_mean, 1, N, 1, 1, "", NULL},
    {"Floor", ox_op_floor, 1, 1, 1, 1, "", NULL},
    {"Ceil", ox_op_ceil, 1, 1, 1, 1, "", NULL},
    {"Round", ox_op_round, 1, 1, 1, 1, "", NULL},
    {"Reciprocal", ox_op_reciprocal, 1, 1, 1, 1, "", NULL},
    {"Sin", ox_op_sin, 1, 1, 1, 1, "", NULL},
    {"Cos", ox_op_cos, 1, 1, 1, 1, "", NULL},
    {"Tan", ox_op_tan, 1, 1, 1, 1, "", NULL},
    {"Asin", ox_op_asin, 1, 1, 1, 1, "", NULL},
    {"Acos", ox_op_acos, 1, 1, 1, 1, "", NULL},
    {"Atan", ox_op_atan, 1, 1, 1, 1, "", NULL},
    {"Sinh", ox_op_sinh, 1, 1, 1, 1, "", NULL},
    {"Cosh", ox_op_cosh, 1, 1, 1, 1, "", NULL},
    {"Asinh", ox_op_asinh, 1, 1, 1, 1, "", NULL},
    {"Acosh", ox_op_acosh, 1, 1, 1, 1, "", NULL},
    {"Atanh", ox_op_atanh, 1, 1, 1, 1, "", NULL},
    {"Erf", ox_op_erf, 1, 1, 1, 1, "", NULL},
    {"Softplus", ox_op_softplus, 1, 1, 1, 1, "", NULL},
    {"Softsign", ox_op_softsign, 1, 1, 1, 1, "", NULL},
    {"HardSwish", ox_op_hardswish, 1, 1, 1, 1, "", NULL},
    {"Selu", ox_op_selu, 1, 1, 1, 1, "alpha,gamma", NULL},
    {"HardSigmoid", ox_op_hard_sigmoid, 1, 1, 1, 1, "alpha,beta", NULL},
    {"Celu", ox_op_celu, 1, 1, 1, 1, "alpha", NULL},
    {"ThresholdedRelu", ox_op_thresholded_relu, 1, 1, 1, 1, "alpha", NULL},
    {"Shrink", ox_op_shrink, 1, 1, 1, 1, "bias,lambd", NULL},
    {"Neg", ox_op_neg, 1, 1, 1, 1, "", NULL},
    {"Abs", ox_op_abs, 1, 1, 1, 1, "", NULL},
    {"Sign", ox_op_sign, 1, 1, 1, 1, "", NULL},
    {"Not", ox_op_not, 1, 1, 1, 1, "", NULL},
    {"Exp", ox_op_exp, 1, 1, 1, 1, "", NULL},
    {"Log", ox_op_log, 1, 1, 1, 1, "", NULL},
    {"Sqrt", ox_op_sqrt, 1, 1, 1, 1, "", NULL},
    {"Sigmoid", ox_op_sigmoid, 1, 1, 1, 1, "", NULL},
    {"Tanh", ox_op_tanh, 1, 1, 1, 1, "", NULL},
    {"Relu", ox_op_relu, 1, 1, 1, 1, "", NULL},
    {"IsNaN", ox_op_isnan, 1, 1, 1, 1, "", NULL},
    {"IsInf", ox_op_isinf, 1, 1, 1, 1, "detect_negative,detect_positive", NULL},
    {"Clip", ox_op_clip, 1, 3, 1, 1, "min,max", NULL},
    {"Where", ox_op_where, 3, 3, 1, 1, "", NULL},
    {"ReduceSum", ox_op_reduce_sum, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceMean", ox_op_reduce_mean, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceMax", ox_op_reduce_max, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceMin", ox_op_reduce_min, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceProd", ox_op_reduce_prod, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceL1", ox_op_reduce_l1, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceL2", ox_op_reduce_l2, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceLogSum", ox_op_reduce_log_sum, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceLogSumExp", ox_op_reduce_log_sum_exp, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ReduceSumSquare", ox_op_reduce_sum_square, 1, 2, 1, 1, REDUCE_ATTRS, NULL},
    {"ArgMax", ox_op_argmax, 1, 1, 1, 1, "axis,keepdims,select_last_index", NULL},
    {"ArgMin", ox_op_argmax, 1, 1, 1, 1, "axis,keepdims,select_last_index", NULL},
    {"CumSum", ox_op_cumsum, 2, 2, 1, 1, "exclusive,reverse", NULL},
    {"Conv", ox_op_conv, 2, 3, 1, 1, CONV_ATTRS, ox_check_autopad},
    {"ConvTranspose", ox_op_conv_transpose, 2, 3, 1, 1, CONV_ATTRS ",output_padding,output_shape", ox_check_autopad},
    {"MaxPool", ox_op_max_pool, 1, 1, 1, 2, POOL_ATTRS, ox_check_autopad},
    {"AveragePool", ox_op_average_pool, 1, 1, 1, 1, POOL_ATTRS, ox_check_autopad},
    {"GlobalMaxPool", ox_op_global_max_pool, 1, 1, 1, 1, "", NULL},
    {"GlobalAveragePool", ox_op_global_average_pool, 1, 1, 1, 1, "", NULL},
    {"BatchNormalization", ox_op_batch_norm, 5, 5, 1, 5, "epsilon,momentum,training_mode,spatial,is_test,consumed_inputs", ox_check_batchnorm},
    {"InstanceNormalization", ox_op_instance_norm, 3, 3, 1, 1, "epsilon", NULL},
    {"LayerNormalization", ox_op_layer_norm, 2, 3, 1, 3, "axis,epsilon,stash_type", NULL},
    {"Gemm", ox_op_gemm, 2, 3, 1, 1, "alpha,beta,transA,transB,broadcast", NULL},
    {"MatMul", ox_op_matmul, 2, 2, 1, 1, "", NULL},
    {"LeakyRelu", ox_op_leaky_relu, 1, 1, 1, 1, "alpha", NULL},
    {"Elu", ox_op_elu, 1, 1, 1, 1, "alpha", NULL},
    {"PRelu", ox_op_prelu, 2, 2, 1, 1, "", NULL},
    {"Softmax", ox_op_softmax, 1, 1, 1, 1, "axis", NULL},
    {"LogSoftmax", ox_op_log_softmax, 1, 1, 1, 1, "axis", NULL},
    {"Hardmax", ox_op_hardmax, 1, 1, 1, 1, "axis", NULL},
    {"Dropout", ox_op_dropout, 1, 3, 1, 2, "ratio,seed,is_test", NULL},
    {"LRN", ox_op_lrn, 1, 1, 1, 1, "alpha,beta,bias,size", NULL},
    {"NegativeLogLikelihoodLoss", ox_op_nll_loss, 2, 3, 1, 1, "ignore_index,reduction", ox_check_loss},
    {"SoftmaxCrossEntropyLoss", ox_op_softmax_cross_entropy, 2, 3, 1, 2, "ignore_index,reduction", ox_check_loss},
    {"Trilu", ox_op_trilu, 1, 2, 1, 1, "upper", NULL},
    {"OneHot", ox_op_one_hot, 3, 3, 1, 1, "axis", NULL},
    {"TopK", ox_op_topk, 1, 2, 1, 2, "axis,largest,sorted,k", NULL},
    {"ScatterElements", ox_op_scatter_elements, 3, 3, 1, 1, "axis,reduction", NULL},
    {"Scatter", ox_op_scatter_elements, 3, 3, 1, 1, "axis", NULL},
    {"ScatterND", ox_op_scatter_nd, 3, 3, 1, 1, "reduction", NULL},
    {"GatherND", ox_op_gather_nd, 2, 2, 1, 1, "batch_dims", NULL},
    {"NonZero", ox_op_nonzero, 1, 1, 1, 1, "", NULL},
    {"Compress", ox_op_compress, 2, 2, 1, 1, "axis", NULL},
    {"ReverseSequence", ox_op_reverse_sequence, 2, 2, 1, 1, "batch_axis,time_axis", NULL},
    {"EyeLike", ox_op_eye_like, 1, 1, 1, 1, "dtype,k", NULL},
    {"MeanVarianceNormalization", ox_op_mvn, 1, 1, 1, 1, "axes", NULL},
    {"Det", ox_op_det, 1, 1, 1, 1, "", NULL},
    {"QuantizeLinear", ox_op_quantize_linear, 2, 3, 1, 1, "axis", NULL},
    {"DequantizeLinear", ox_op_dequantize_linear, 2, 3, 1, 1, "axis", NULL},
    {"DynamicQuantizeLinear", ox_op_dynamic_quantize_linear, 1, 1, 3, 3, "", NULL},
    {"RNN", ox_op_rnn, 3, 6, 0, 2, "activation_alpha,activation_beta,activations,clip,direction,hidden_size,layout", ox_check_rnn},
    {"GRU", ox_op_rnn, 3, 6, 0, 2, "activation_alpha,activation_beta,activations,clip,direction,hidden_size,layout,linear_before_reset", ox_check_rnn},
    {"LSTM", ox_op_rnn, 3, 8, 0, 3, "activation_alpha,activation_beta,activations,clip,direction,hidden_size,layout,input_forget", ox_check_rnn},
    {"GridSample", ox_op_grid_sample, 2, 2, 1, 1, "align_corners,mode,padding_mode", ox_check_grid_sample},
    {"MaxUnpool", ox_op_max_unpool, 2, 3, 1, 1, "kernel_shape,pads,strides", NULL},
    {"RoiAlign", ox_op_roi_align, 3, 3, 1, 1, "coordinate_transformation_mode,mode,output_height,output_width,sampling_ratio,spatial_scale", NULL},
    {"Einsum", ox_op_einsum, 1, 8, 1, 1, "equation", NULL},
    {"Unique", ox_op_unique, 1, 1, 1, 4, "axis,sorted", NULL},
    {"NonMaxSuppression", ox_op_nms, 2, 5, 1, 1, "center_point_box", NULL},
    {"ConvInteger", ox_op_conv_integer, 2, 4, 1, 1, CONV_ATTRS, ox_check_autopad},
    {"MatMulInteger", ox_op_matmul_integer, 2, 4, 1, 1, "", NULL},
    {"QLinearMatMul", ox_op_qlinear_matmul, 8, 8, 1, 1, "", NULL},
    {"QLinearConv", ox_op_qlinear_conv, 8, 9, 1, 1, CONV_ATTRS, ox_check_autopad},
    {"DFT", ox_op_dft, 1, 2, 1, 1, "axis,inverse,onesided", NULL},
    {"STFT", ox_op_stft, 2, 4, 1, 1, "onesided", NULL},
    {"HannWindow", ox_op_window, 1, 1, 1, 1, "output_datatype,periodic", NULL},
    {"HammingWindow", ox_op_window, 1, 1, 1, 1, "output_datatype,periodic", NULL},
    {"BlackmanWindow", ox_op_window, 1, 1, 1, 1, "output_datatype,periodic", NULL},
};

const ox_op *ox_find_op(const char *type)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].type, type)) return &ops[i];
    return NULL;
}
