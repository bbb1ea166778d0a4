"""Training deblurring networks with the reblurring loss (Nah et al., ICLR 2022); see the project issues."""
